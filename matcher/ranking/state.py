"""What a :class:`~matcher.ranking.Suggester` precomputes per data version, and one call's request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from matcher.calibration import Calibration
from matcher.explain import Explainer
from matcher.features import FeatureContext
from matcher.profiles import Cooperation, Organisation, Side, Split
from matcher.text import normalise

Choice = str | Sequence[str] | None


@dataclass
class State:
    """Everything precomputed for one data version."""

    version: str
    ctx: FeatureContext
    grid: np.ndarray | None  # (n_eu, n_mx, F); None on the large-registry path
    prob: np.ndarray | None  # (n_eu, n_mx)
    recip: np.ndarray | None  # (n_eu, n_mx)
    explainer: Explainer
    names: dict[str, str]  # normalised name, acronym or alias -> id, when it names one organisation
    sample: dict[Side, np.ndarray] | None = None  # large path: reference rows per side
    reference: dict[Side, np.ndarray] | None = None  # large path: (n_side, R) sorted probabilities
    generation: int = 0  # the Suggester's ranker generation the scores were made with
    held: dict[str, set[str]] = field(default_factory=dict)  # org id -> partners in the external test part
    calibration: Calibration | None = None  # ranker score -> chance of a documented pair

    def probability(self, score: float) -> float | None:
        """The calibrated probability shown for a ranker score (None without a calibration)."""
        return None if self.calibration is None else round(float(self.calibration(score)), 4)

    @property
    def results_version(self) -> str:
        return f"{self.version}#{self.generation}"

    @property
    def dense(self) -> bool:
        return self.prob is not None


@dataclass(frozen=True)
class Request:
    """The options of one suggestion call: list length, filters, exclusions, diversification."""

    k: int
    sector: Choice = None
    country: Choice = None
    type: Choice = None
    exclude_existing: bool = False
    diversify: bool = False

    def filters(self) -> dict[str, object]:
        """The options a caller set, as echoed in :attr:`SuggestionList.filters`."""
        given = {"sector": self.sector, "country": self.country, "type": self.type,
                 "exclude_existing": self.exclude_existing, "diversify": self.diversify}
        return {key: value for key, value in given.items() if value not in (None, False)}


def split_cooperations(cooperations: Iterable[Cooperation]) -> tuple[list[Cooperation], dict[str, set[str]]]:
    """The cooperations to learn from, and each organisation's partners in the external test part.

    The external test part is never trained on, nor used for features; its pairs still count
    as existing cooperations when a caller excludes those.
    """
    coops: list[Cooperation] = []
    held: dict[str, set[str]] = {}
    for c in cooperations:
        if c.split is Split.TEST:
            held.setdefault(c.eu, set()).add(c.mx)
            held.setdefault(c.mx, set()).add(c.eu)
        else:
            coops.append(c)
    return coops, held


def unique_names(orgs: Sequence[Organisation]) -> dict[str, str]:
    """Exact-name shortcuts for lookups; a name shared by several organisations is left to the registry."""
    owners: dict[str, set[str]] = {}
    for org in orgs:
        for name in org.all_names():
            owners.setdefault(normalise(name), set()).add(org.id)
    return {key: next(iter(ids)) for key, ids in owners.items() if len(ids) == 1 and key}
