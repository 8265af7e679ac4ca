"""Calibrated probabilities: what a ranker score means as a chance of cooperation.

The ranker learns from documented pairs against a sample of non-pairs, plus cold-start copies
of every row, so its output orders pairs well but is not a frequency: a pair at 0.8 is not
cooperating four times in five. A person reads a score as such a frequency, so the service
shows a calibrated probability beside the rank.

Calibration data come from cross-fitting on the training cooperations, in the newcomer's
situation: the organisations that have documented cooperations are dealt into ``folds``
groups; for each group a ranker is fitted without any pair that touches the group, and every
pair between a group member and the other side is scored (label 1 when it is documented).
A logistic map on the log-odds (Platt scaling: two parameters, chosen in advance because the
positives are few) turns a ranker score into the share of such pairs that are documented.

What the number means, and what it does not: the chance that the pair is among the documented
cooperations, as measured on organisations held out of training. Many real cooperations are
not documented, so it is a floor for "would cooperate", and it is checked (reliability curve,
Brier score) on held-out organisations and on the external test part by ``c2c evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
from scipy.special import expit, logit

from matcher.errors import NotTrained

if TYPE_CHECKING:
    from matcher.features import FeatureContext

#: Fixed in advance: enough groups that each ranker sees most of the data.
DEFAULT_FOLDS = 5
#: Scores are clipped to this many log-odds units before the map (a probability of exactly 0
#: or 1 would have no log-odds).
_EPS = 1e-9
#: Bin edges of the reliability table: documented pairs are rare, so the low range is finer.
RELIABILITY_EDGES = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def log_odds(probabilities: np.ndarray) -> np.ndarray:
    """Log-odds of ranker probabilities, clipped away from 0 and 1."""
    return logit(np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1 - _EPS))


@dataclass(frozen=True)
class Calibration:
    """A fitted map from ranker probability to the chance that a pair is documented."""

    slope: float
    intercept: float
    pairs: int  # scored pairs it was fitted on
    positives: int  # documented pairs among them
    folds: int

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        return expit(self.slope * log_odds(probabilities) + self.intercept)

    def to_dict(self) -> dict[str, Any]:
        return {"method": "platt", "slope": self.slope, "intercept": self.intercept, "pairs": self.pairs,
                "positives": self.positives, "folds": self.folds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Calibration":
        """Read :meth:`to_dict` output; raises :class:`NotTrained` when it is not one."""
        try:
            if data.get("method") != "platt":
                raise ValueError(f"unknown method {data.get('method')!r}")
            out = cls(float(data["slope"]), float(data["intercept"]), int(data["pairs"]),
                      int(data["positives"]), int(data["folds"]))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise NotTrained(f"unreadable calibration ({exc}); run `c2c train`") from None
        if not (np.isfinite(out.slope) and np.isfinite(out.intercept)):
            raise NotTrained("calibration parameters are not finite; run `c2c train`")
        return out


def fit_calibration(probabilities: np.ndarray, labels: np.ndarray, folds: int = 0) -> Calibration:
    """Platt scaling of ``probabilities`` against 0/1 ``labels`` (2 parameters, practically unpenalised)."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels, dtype=int)
    x = log_odds(probabilities)[:, None]
    if len(np.unique(labels)) < 2:
        raise NotTrained("calibration needs both documented and undocumented pairs")
    model = LogisticRegression(C=1e6, max_iter=1000).fit(x, labels)
    return Calibration(float(model.coef_[0, 0]), float(model.intercept_[0]), int(len(labels)),
                       int(labels.sum()), folds)


@dataclass
class OutOfFold:
    """Scores of pairs by rankers that never saw them: one entry per scored pair and fold."""

    probabilities: np.ndarray
    labels: np.ndarray  # 1 for a documented pair
    groups: np.ndarray  # the fold that scored the pair
    eu_rows: np.ndarray  # the pair, as rows of the context it came from
    mx_rows: np.ndarray


def out_of_fold_scores(ctx: "FeatureContext", fit, folds: int = DEFAULT_FOLDS, seed: int = 0) -> OutOfFold:
    """Newcomer-style scores of held-out organisations' pairs.

    ``fit(sub_ctx)`` returns a fitted ranker for a context (the same recipe as the served
    ranker). Every (held-out organisation, counterpart) pair is scored; a pair whose two
    parties are both held out in the same group is counted once.
    """
    if len(active_organisations(ctx)) < 2:
        raise NotTrained("too few organisations with documented cooperations to calibrate")
    probs, labels, groups, eu_out, mx_out = [], [], [], [], []
    for g, held, sub in newcomer_groups(ctx, folds, seed):
        eu_rows = np.array([i for i, oid in enumerate(ctx.eu_ids) if oid in held], dtype=int)
        mx_rows = np.array([j for j, oid in enumerate(ctx.mx_ids) if oid in held], dtype=int)
        model = fit(sub)
        e, m = held_pairs(eu_rows, mx_rows, *ctx.adjacency.shape)
        probs.append(model.score_features(sub.pairs(e, m)))
        labels.append(ctx.adjacency[e, m].astype(int))
        groups.append(np.full(len(e), g))
        eu_out.append(e)
        mx_out.append(m)
    if not probs:
        raise NotTrained("no fold had cooperations left to learn from")
    return OutOfFold(*(np.concatenate(parts) for parts in (probs, labels, groups, eu_out, mx_out)))


def active_organisations(ctx: "FeatureContext") -> list[str]:
    """Ids of the organisations with documented cooperations in ``ctx``, sorted."""
    return sorted({c.eu for c in ctx.cooperations} | {c.mx for c in ctx.cooperations})


def newcomer_groups(ctx: "FeatureContext", folds: int, seed: int) -> Iterator[tuple[int, set[str], "FeatureContext"]]:
    """(group number, held-out organisations, context without their pairs) for each of ``folds``
    seeded groups (at least two) of :func:`active_organisations`; a group whose rest has no
    pair left is skipped. The contexts share one text model (it holds no pair information)."""
    from matcher.features import FeatureContext, fit_text_model
    from matcher.text import profile_text

    active = active_organisations(ctx)
    folds = max(2, min(folds, len(active)))
    order = np.random.default_rng(seed).permutation(len(active))
    group_of = {active[i]: g % folds for g, i in enumerate(order)}
    orgs = ctx.eu_orgs + ctx.mx_orgs
    vectors = np.concatenate([ctx.eu.vectors, ctx.mx.vectors])
    text = fit_text_model([profile_text(o, ctx.taxonomy) for o in orgs])
    for g in range(folds):
        held = {oid for oid, k in group_of.items() if k == g}
        train = [c for c in ctx.cooperations if c.eu not in held and c.mx not in held]
        sub = FeatureContext.build(orgs, train, vectors, ctx.taxonomy, text=text)
        if sub.adjacency.any():
            yield g, held, sub


def held_pairs(eu_rows: np.ndarray, mx_rows: np.ndarray, n_eu: int, n_mx: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (EU row, MX row) pair with a party among ``eu_rows`` or ``mx_rows``, each pair once,
    in row-major order."""
    if not n_eu or not n_mx:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    eu_rows, mx_rows = np.asarray(eu_rows, dtype=np.int64), np.asarray(mx_rows, dtype=np.int64)
    by_eu = (eu_rows[:, None] * n_mx + np.arange(n_mx)[None, :]).ravel()
    by_mx = (np.arange(n_eu)[:, None] * n_mx + mx_rows[None, :]).ravel()
    keys = np.union1d(by_eu, by_mx)
    return (keys // n_mx).astype(np.intp), (keys % n_mx).astype(np.intp)


@dataclass
class Reliability:
    """A reliability table: per bin of predicted probability, the observed share of positives."""

    bins: list[dict[str, float]]
    brier: float
    brier_base_rate: float  # Brier score of always predicting the overall positive share
    ece: float  # expected calibration error: count-weighted mean |observed - predicted|
    pairs: int
    positives: int

    def to_dict(self) -> dict[str, Any]:
        return {"bins": self.bins, "brier": self.brier, "brier_base_rate": self.brier_base_rate,
                "ece": self.ece, "pairs": self.pairs, "positives": self.positives}

    def format(self) -> str:
        lines = ["| predicted | pairs | documented | mean predicted | observed |", "|---|---|---|---|---|"]
        for b in self.bins:
            lines.append(f"| {b['low']:g}–{b['high']:g} | {b['pairs']} | {b['positives']} | "
                         f"{b['predicted']:.4f} | {b['observed']:.4f} |")
        lines.append("")
        lines.append(f"Brier score {self.brier:.5f} (always predicting the base rate: {self.brier_base_rate:.5f}); "
                     f"expected calibration error {self.ece:.5f}; {self.pairs} pairs, {self.positives} documented.")
        return "\n".join(lines)


def reliability(probabilities: np.ndarray, labels: np.ndarray, edges: Sequence[float] = RELIABILITY_EDGES) -> Reliability:
    """How well ``probabilities`` match the observed frequency of ``labels`` (empty bins dropped)."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError("probabilities and labels must be 1-d arrays of the same length")
    which = np.clip(np.searchsorted(np.asarray(edges), p, side="right") - 1, 0, len(edges) - 2)
    bins = []
    ece = 0.0
    for b in range(len(edges) - 1):
        inside = which == b
        n = int(inside.sum())
        if not n:
            continue
        predicted, observed = float(p[inside].mean()), float(y[inside].mean())
        ece += n * abs(observed - predicted)
        bins.append({"low": float(edges[b]), "high": float(edges[b + 1]), "pairs": n, "positives": int(y[inside].sum()),
                     "predicted": predicted, "observed": observed})
    n = len(p)
    base = float(y.mean()) if n else 0.0
    return Reliability(bins, float(np.mean((p - y) ** 2)) if n else 0.0, float(np.mean((base - y) ** 2)) if n else 0.0,
                       ece / n if n else 0.0, n, int(y.sum()))


def cross_fitted(probabilities: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Calibrated probabilities where each group's map was fitted on the other groups only."""
    out = np.empty(len(probabilities), dtype=np.float64)
    for g in np.unique(groups):
        inside = groups == g
        out[inside] = fit_calibration(probabilities[~inside], labels[~inside])(probabilities[inside])
    return out
