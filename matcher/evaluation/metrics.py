"""Ranks and metrics: where a held-out partner landed, and hit@k, MRR, median rank, coverage.

Ties are broken at random, in expectation: a target with ``g`` candidates scoring higher and
``t`` others scoring the same has its rank uniform on ``g+1 .. g+t+1``; hit@k and reciprocal
rank are the expected values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

METRICS = ("hit@1", "hit@5", "hit@10", "mrr", "median_rank", "reciprocal_hit@10", "coverage@10")
EU_TO_MX = "EU->MX"
MX_TO_EU = "MX->EU"


@dataclass(frozen=True)
class RankRecord:
    """Where one held-out partner landed in one query's filtered candidate list."""

    protocol: str
    method: str
    group: str  # bootstrap unit: the pair (LOPO, external) or the held-out organisation (LOOO)
    pair: str  # "eu_id|mx_id"
    direction: str  # EU->MX or MX->EU
    query: str
    target: str
    greater: int  # candidates scoring strictly higher than the target
    ties: int  # other candidates scoring exactly the same
    candidates: int

    @property
    def rank(self) -> float:
        """Expected rank under random tie-breaking."""
        return 1 + self.greater + self.ties / 2

    def hit(self, k: int) -> float:
        """Probability that the target is in the top k."""
        return float(np.clip((k - self.greater) / (self.ties + 1), 0.0, 1.0))

    def reciprocal_rank(self) -> float:
        """Expected 1/rank under random tie-breaking."""
        return reciprocal_rank(self.greater, self.ties)


def reciprocal_rank(greater: int, ties: int) -> float:
    """Expected 1/rank of a target with ``greater`` candidates above it and ``ties`` level with it."""
    lo, hi = greater + 1, greater + ties + 1
    return float(np.sum(1.0 / np.arange(lo, hi + 1)) / (hi - lo + 1))


def rank_of(scores: np.ndarray, candidates: np.ndarray, target: int) -> tuple[int, int, int]:
    """(greater, ties, n) of ``target`` among ``candidates`` (indices into ``scores``)."""
    values = np.round(np.asarray(scores, dtype=np.float64)[candidates], 12)
    mine = np.round(float(scores[target]), 12)
    greater = int(np.sum(values > mine))
    ties = int(np.sum(values == mine)) - 1
    return greater, max(ties, 0), len(candidates)


def top_k(scores: np.ndarray, candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """The k best candidates, ties broken by a seeded random order."""
    values = np.round(np.asarray(scores, dtype=np.float64)[candidates], 12)
    order = np.lexsort((rng.random(len(candidates)), -values))
    return candidates[order[:k]]


def metric_values(records: Sequence[RankRecord], covered: set[str] | None = None, population: int | None = None) -> dict[str, float]:
    """Every metric over a list of records (coverage needs the covered ids and population)."""
    if not records:
        return {m: float("nan") for m in METRICS}
    out = {
        "hit@1": float(np.mean([r.hit(1) for r in records])),
        "hit@5": float(np.mean([r.hit(5) for r in records])),
        "hit@10": float(np.mean([r.hit(10) for r in records])),
        "mrr": float(np.mean([r.reciprocal_rank() for r in records])),
        "median_rank": float(np.median([r.rank for r in records])),
    }
    by_pair: dict[tuple[str, str], dict[str, float]] = {}
    for r in records:
        by_pair.setdefault((r.group, r.pair), {})[r.direction] = r.hit(10)
    both = [d[EU_TO_MX] * d[MX_TO_EU] for d in by_pair.values() if len(d) == 2]
    out["reciprocal_hit@10"] = float(np.mean(both)) if both else float("nan")
    out["coverage@10"] = len(covered) / population if covered is not None and population else float("nan")
    return out
