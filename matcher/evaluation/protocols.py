"""The protocols' folds: leave-one-pair-out, leave-one-organisation-out and the external test part.

Training cooperations never include a held-out pair, and never a pair of the external test part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from matcher.errors import InvalidProfile
from matcher.features import FeatureContext
from matcher.profiles import Cooperation, Organisation, Split
from matcher.taxonomy import Taxonomy

LOPO = "leave-one-pair-out"
LOOO = "leave-one-organisation-out"
EXTERNAL = "external"
PROTOCOLS = (LOOO, EXTERNAL, LOPO)


@dataclass(frozen=True)
class Fold:
    """One held-out set: the cooperations to train on, the pairs to rank, the queries."""

    name: str
    group: str
    train: list[Cooperation]
    heldout: list[tuple[str, str]]
    queries: list[tuple[str, str, str]]  # (pair key, query id, target id)


def unique_pairs(cooperations: Iterable[Cooperation]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(c.pair for c in cooperations))


def pair_key(pair: tuple[str, str]) -> str:
    return f"{pair[0]}|{pair[1]}"


def folds(protocol: str, cooperations: Sequence[Cooperation]) -> list[Fold]:
    """The folds of a protocol; training cooperations never include a held-out pair, and never a
    pair of the external test part."""
    test = [c for c in cooperations if c.split is Split.TEST]
    cooperations = [c for c in cooperations if c.split is not Split.TEST]
    if protocol == EXTERNAL:
        train_pairs = set(unique_pairs(cooperations))
        held = [p for p in unique_pairs(test) if p not in train_pairs]
        queries = [q for pair in held for q in ((pair_key(pair), pair[0], pair[1]), (pair_key(pair), pair[1], pair[0]))]
        return [Fold(EXTERNAL, EXTERNAL, list(cooperations), held, queries)] if held else []
    if protocol == LOPO:
        out = []
        for pair in unique_pairs(cooperations):
            train = [c for c in cooperations if c.pair != pair]
            key = pair_key(pair)
            out.append(Fold(key, key, train, [pair], [(key, pair[0], pair[1]), (key, pair[1], pair[0])]))
        return out
    if protocol == LOOO:
        out = []
        orgs = list(dict.fromkeys([c.eu for c in cooperations] + [c.mx for c in cooperations]))
        for org in orgs:
            held = [p for p in unique_pairs(cooperations) if org in p]
            train = [c for c in cooperations if org not in c.pair]
            queries = []
            for pair in held:
                partner = pair[1] if pair[0] == org else pair[0]
                queries += [(pair_key(pair), org, partner), (pair_key(pair), partner, org)]
            out.append(Fold(org, org, train, held, queries))
        return out
    raise InvalidProfile(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}", "protocol")


def fold_context(organisations: Sequence[Organisation], fold: Fold, vectors: np.ndarray, taxonomy: Taxonomy) -> FeatureContext:
    """The feature context of a fold: built from its training cooperations only."""
    return FeatureContext.build(organisations, fold.train, vectors, taxonomy)
