"""Confidence intervals and the paired test: a seeded bootstrap over groups, and Wilcoxon."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.stats import wilcoxon

from matcher.evaluation.metrics import EU_TO_MX, METRICS, MX_TO_EU, RankRecord, metric_values


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% bootstrap interval."""

    value: float
    low: float
    high: float

    def format(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def bootstrap(records: Sequence[RankRecord], covers: dict[str, set[str]], population: int,
              resamples: int = 1000, seed: int = 0) -> dict[str, Estimate]:
    """Point estimates and 95% percentile intervals, resampling groups with replacement."""
    point = metric_values(records, set().union(*covers.values()) if covers else set(), population)
    groups = sorted({r.group for r in records})
    if not groups or resamples <= 0:
        return {m: Estimate(point[m], float("nan"), float("nan")) for m in METRICS}
    gi = {g: i for i, g in enumerate(groups)}
    G = len(groups)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(G, np.full(G, 1.0 / G), size=resamples).astype(float)  # (B, G)

    rec_group = np.array([gi[r.group] for r in records])
    per_record = {
        "hit@1": np.array([r.hit(1) for r in records]),
        "hit@5": np.array([r.hit(5) for r in records]),
        "hit@10": np.array([r.hit(10) for r in records]),
        "mrr": np.array([r.reciprocal_rank() for r in records]),
    }
    w = counts[:, rec_group]  # (B, R)
    total = w.sum(1)
    samples: dict[str, np.ndarray] = {m: (w @ v) / total for m, v in per_record.items()}

    ranks = np.array([r.rank for r in records])
    order = np.argsort(ranks, kind="stable")
    cum = np.cumsum(w[:, order], axis=1)
    lo_idx = (cum >= total[:, None] / 2).argmax(1)
    hi_idx = (cum > total[:, None] / 2).argmax(1)
    samples["median_rank"] = (ranks[order][lo_idx] + ranks[order][hi_idx]) / 2

    by_pair: dict[tuple[str, str], dict[str, float]] = {}
    for r in records:
        by_pair.setdefault((r.group, r.pair), {})[r.direction] = r.hit(10)
    pair_keys = [k for k, d in by_pair.items() if len(d) == 2]
    if pair_keys:
        vals = np.array([by_pair[k][EU_TO_MX] * by_pair[k][MX_TO_EU] for k in pair_keys])
        pw = counts[:, [gi[k[0]] for k in pair_keys]]
        samples["reciprocal_hit@10"] = (pw @ vals) / np.maximum(pw.sum(1), 1e-12)
    else:
        samples["reciprocal_hit@10"] = np.full(resamples, np.nan)

    ids = sorted(set().union(*covers.values())) if covers else []
    if ids and population:
        col = {oid: j for j, oid in enumerate(ids)}
        cover = np.zeros((G, len(ids)))
        for g, covered in covers.items():
            if g in gi:
                cover[gi[g], [col[o] for o in covered]] = 1
        samples["coverage@10"] = ((counts @ cover) > 0).sum(1) / population
    else:
        samples["coverage@10"] = np.full(resamples, np.nan)

    out = {}
    for m in METRICS:
        s = samples[m]
        if not np.isfinite(s).any():
            out[m] = Estimate(point[m], float("nan"), float("nan"))
            continue
        low, high = np.nanpercentile(s, [2.5, 97.5])
        if m == "coverage@10":
            # A resample holds fewer distinct queries, so its coverage is biased low; shift the
            # percentile interval by the estimated bias (bootstrap mean minus point estimate).
            bias = float(np.nanmean(s)) - point[m]
            low, high = max(low - bias, 0.0), min(high - bias, 1.0)
        out[m] = Estimate(point[m], float(low), float(high))
    return out


@dataclass(frozen=True)
class PairedTest:
    """The ranker against one baseline on per-group mean reciprocal rank."""

    method: str
    baseline: str
    mean_difference: float
    low: float
    high: float
    bootstrap_p: float
    wilcoxon_p: float
    groups: int


def paired_test(a: Sequence[RankRecord], b: Sequence[RankRecord], resamples: int = 1000, seed: int = 0) -> PairedTest:
    """Paired bootstrap and Wilcoxon signed-rank test of the per-group reciprocal ranks."""
    def per_group(records: Sequence[RankRecord]) -> dict[str, float]:
        acc: dict[str, list[float]] = {}
        for r in records:
            acc.setdefault(r.group, []).append(r.reciprocal_rank())
        return {g: float(np.mean(v)) for g, v in acc.items()}

    ga, gb = per_group(a), per_group(b)
    groups = sorted(set(ga) & set(gb))
    diff = np.array([ga[g] - gb[g] for g in groups])
    method = a[0].method if a else ""
    baseline = b[0].method if b else ""
    if len(diff) == 0:
        return PairedTest(method, baseline, float("nan"), float("nan"), float("nan"), float("nan"), float("nan"), 0)
    try:
        p_wil = float(wilcoxon(diff, zero_method="wilcox").pvalue) if np.any(diff != 0) else 1.0
    except ValueError:
        p_wil = float("nan")
    if resamples <= 0:
        return PairedTest(method, baseline, float(diff.mean()), float("nan"), float("nan"), float("nan"), p_wil, len(diff))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[idx].mean(1)
    p_boot = float(min(1.0, 2 * min(np.mean(means <= 0), np.mean(means >= 0))))
    low, high = np.percentile(means, [2.5, 97.5])
    return PairedTest(method, baseline, float(diff.mean()), float(low), float(high), p_boot, p_wil, len(diff))
