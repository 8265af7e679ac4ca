"""The pair ranker: a standardised logistic regression with optional sign constraints.

:class:`PairRanker` is a scikit-learn estimator (``__init__`` stores parameters, ``fit``
returns ``self``, learned attributes end in ``_``, ``check_estimator`` passes). Features are
standardised with the (weighted) training mean and standard deviation; the coefficients live
in that standardised space, so ``coef_[j] * z_j`` is feature j's contribution to a pair's
log-odds — the explanations use exactly that.

``monotone`` constrains coefficient signs (+1: the feature can only raise the score, -1: only
lower it, 0: free). Similarity-type features are constrained to be non-negative
(:func:`matcher.features.monotone_constraints`), which is prior knowledge fixed in advance,
not something tuned on the evaluation pairs.

A missing value (NaN: a history feature of an organisation with no other documented partner)
is filled with the feature's weighted mean over the training rows where it is known
(``fill_``), before standardising, in fitting and in scoring alike; a filled value adds
nothing to the log-odds.

Fitted rankers are saved as JSON documents (never pickle) made by :func:`ranker_payload`;
the service keeps them in its store (:class:`matcher.store.models.ModelStore`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from matcher.errors import NotTrained
from matcher.features import FEATURE_NAMES, HISTORY, monotone_constraints

if TYPE_CHECKING:
    from matcher.features import FeatureContext
    from matcher.feedback import FeedbackRows

RANKER_FILE = "ranker.json"
FORMAT_VERSION = 1

#: Fixed in advance, never tuned on the evaluation pairs.
DEFAULT_C = 1.0
DEFAULT_NEGATIVES = 200
#: Weight of the cold-start copies of the training rows (see :func:`fit_ranker`).
DEFAULT_COLD_START = 1.0


class PairRanker(ClassifierMixin, BaseEstimator):
    """Binary logistic regression on standardised features, L2-penalised, sign-constrainable.

    Parameters
    ----------
    C : inverse strength of the L2 penalty on the (standardised) coefficients.
    monotone : per feature +1 / -1 / 0 sign constraint, or None for no constraint.
    max_iter : Newton iteration limit.
    tol : tolerance on the projected gradient.
    """

    def __init__(self, C: float = 1.0, monotone: Sequence[int] | None = None, max_iter: int = 100, tol: float = 1e-10):
        self.C = C
        self.monotone = monotone
        self.max_iter = max_iter
        self.tol = tol

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X, y, sample_weight=None) -> "PairRanker":
        """Fit on features ``X`` and 0/1 labels ``y``; ``sample_weight`` weighs each row."""
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(f"Only binary classification is supported. The type of the target is {y_type}.")
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if not self.C > 0:
            raise ValueError(f"C must be positive, got {self.C!r}")
        classes = np.unique(y)
        present = np.unique(y[sample_weight > 0])
        if len(classes) < 2 or len(present) < 2:
            raise ValueError("Classifier can't train when only one class is present.")
        self.classes_ = classes
        n_features = X.shape[1]
        signs = np.zeros(n_features, dtype=int)
        if self.monotone is not None:
            signs = np.asarray(self.monotone, dtype=int)
            if signs.shape != (n_features,) or not np.isin(signs, (-1, 0, 1)).all():
                raise ValueError(f"monotone must hold {n_features} values in {{-1, 0, 1}}")
        lower = np.where(signs > 0, 0.0, -np.inf)
        upper = np.where(signs < 0, 0.0, np.inf)

        known = ~np.isnan(X)
        known_weight = sample_weight @ known
        sums = sample_weight @ np.where(known, X, 0.0)
        self.fill_ = np.divide(sums, known_weight, out=np.zeros(n_features), where=known_weight > 0)
        X = np.where(known, X, self.fill_)
        total = sample_weight.sum()
        self.mean_ = (sample_weight @ X) / total
        std = np.sqrt((sample_weight @ (X - self.mean_) ** 2) / total)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        Z = (X - self.mean_) / self.scale_
        sign = np.where(y == classes[1], 1.0, -1.0)
        # The loss sums the raw weights, so a weight of 2 is the same as a repeated row.
        raw = sample_weight

        params, n_iter = _projected_newton(Z, sign, raw, self.C, lower, upper, self.max_iter, self.tol)
        self.coef_ = params[:-1]
        self.intercept_ = float(params[-1])
        self.n_iter_ = max(n_iter, 1)
        return self

    def _standardised(self, X: np.ndarray) -> np.ndarray:
        """``X`` with every NaN replaced by its feature's ``fill_``, then standardised."""
        missing = np.isnan(X)
        if missing.any():
            X = np.where(missing, self.fill_, X)
        return (X - self.mean_) / self.scale_

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of the positive class for each row."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite="allow-nan")
        return self._standardised(X) @ self.coef_ + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def contributions(self, X) -> np.ndarray:
        """Per-feature contribution to the log-odds: coefficient x standardised value."""
        check_is_fitted(self)
        return self._standardised(np.asarray(X, dtype=np.float64)) * self.coef_

    def score_features(self, X: np.ndarray) -> np.ndarray:
        """Positive-class probability for a feature array of any leading shape (..., F)."""
        check_is_fitted(self)
        return expit(self._standardised(np.asarray(X, dtype=np.float64)) @ self.coef_ + self.intercept_)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Parameters and learned attributes as plain JSON-able values."""
        check_is_fitted(self)
        return {
            "params": {"C": self.C, "monotone": None if self.monotone is None else [int(s) for s in self.monotone],
                       "max_iter": self.max_iter, "tol": self.tol},
            "classes": self.classes_.tolist(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "fill": self.fill_.tolist(),
            "n_iter": self.n_iter_,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PairRanker":
        model = cls(**data["params"])
        model.classes_ = np.asarray(data["classes"])
        model.coef_ = np.asarray(data["coef"], dtype=np.float64)
        model.intercept_ = float(data["intercept"])
        model.mean_ = np.asarray(data["mean"], dtype=np.float64)
        model.scale_ = np.asarray(data["scale"], dtype=np.float64)
        # Documents written before missing values were filled read a missing value as 0.
        model.fill_ = np.asarray(data.get("fill") or np.zeros(len(model.coef_)), dtype=np.float64)
        model.n_iter_ = int(data["n_iter"])
        model.n_features_in_ = len(model.coef_)
        if not (len(model.mean_) == len(model.scale_) == len(model.fill_) == model.n_features_in_):
            raise ValueError("coef, mean, scale and fill lengths differ")
        return model


def fit_ranker(ctx: "FeatureContext", C: float = DEFAULT_C, negatives: int = DEFAULT_NEGATIVES, seed: int = 0,
               grid: np.ndarray | None = None, feedback: "FeedbackRows | None" = None,
               cold_start: float = DEFAULT_COLD_START) -> PairRanker:
    """Fit a ranker on a context's documented pairs and seeded negatives (weighted by type).

    ``grid`` is the context's full feature grid when already computed (it is reused).
    ``feedback`` adds users' verdicts as extra rows (:func:`matcher.feedback.feedback_rows`).

    Cold start: most users bring an organisation with no documented cooperation, whose
    history features (the partners it could resemble) are unknown. With ``cold_start`` > 0
    every training row is added twice more, once as if the European party had no history and
    once as if the Mexican one had none (:data:`matcher.features.HISTORY`), weighted by
    ``cold_start``. The ranker then cannot lean on history alone.
    """
    e, m, y, w = ctx.training_rows(negatives, seed)
    if feedback is not None and len(feedback):
        e, m = np.concatenate([e, feedback.eu_rows]), np.concatenate([m, feedback.mx_rows])
        y, w = np.concatenate([y, feedback.labels]), np.concatenate([w, feedback.weights])
    X = ctx.pairs(e, m) if grid is None else grid[e, m]
    X, y, w = cold_start_rows(X, y, w, cold_start)
    return PairRanker(C=C, monotone=monotone_constraints(FEATURE_NAMES)).fit(X, y, sample_weight=w)


def cold_start_rows(X: np.ndarray, y: np.ndarray, w: np.ndarray, weight: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training rows plus, for each side, a copy with that side's history features unknown (NaN)."""
    if weight <= 0:
        return X, y, w
    blocks, labels, weights = [X], [y], [w]
    for names in HISTORY.values():
        copy = X.copy()
        copy[:, [FEATURE_NAMES.index(n) for n in names]] = np.nan
        blocks.append(copy)
        labels.append(y)
        weights.append(w * weight)
    return np.concatenate(blocks), np.concatenate(labels), np.concatenate(weights)


def _projected_newton(Z: np.ndarray, sign: np.ndarray, weight: np.ndarray, C: float, lower: np.ndarray,
                      upper: np.ndarray, max_iter: int, tol: float) -> tuple[np.ndarray, int]:
    """Minimise C * sum_i w_i log(1 + exp(-s_i (z_i.beta + b))) + |beta|^2 / 2 within bounds on beta.

    Projected Newton (Bertsekas): coefficients sitting on a bound whose gradient pushes them
    outwards are held fixed, a Newton step is taken in the others, projected back into the
    bounds, with Armijo backtracking. The objective is strictly convex, so this converges
    quadratically to the unique optimum (to machine precision, in a few dozen steps).
    """
    n, d = Z.shape
    Z1 = np.hstack([Z, np.ones((n, 1))])
    lo = np.append(lower, -np.inf)
    hi = np.append(upper, np.inf)
    reg = np.append(np.ones(d), 0.0)

    def value(params: np.ndarray) -> float:
        return float(-C * (weight @ log_expit(sign * (Z1 @ params))) + 0.5 * (reg * params) @ params)

    params = np.clip(np.zeros(d + 1), lo, hi)
    current = value(params)
    for it in range(1, max_iter + 1):
        margin = sign * (Z1 @ params)
        p = expit(-margin)
        grad = Z1.T @ (-C * weight * sign * p) + reg * params
        at_bound = ((params <= lo) & (grad > 0)) | ((params >= hi) & (grad < 0))
        projected = np.where(at_bound, 0.0, grad)
        if np.max(np.abs(projected)) <= tol:
            return params, it
        free = ~at_bound
        curvature = C * weight * p * (1 - p)
        hess = (Z1[:, free] * curvature[:, None]).T @ Z1[:, free] + np.diag(reg[free])
        step = np.zeros(d + 1)
        try:
            step[free] = -np.linalg.solve(hess + 1e-12 * np.eye(int(free.sum())), grad[free])
        except np.linalg.LinAlgError:
            step[free] = -grad[free]
        t = 1.0
        while True:
            candidate = np.clip(params + t * step, lo, hi)
            new = value(candidate)
            if new <= current + 1e-4 * grad @ (candidate - params) or t < 1e-10:
                break
            t *= 0.5
        if new >= current:  # no progress possible at machine precision: at the optimum
            return params, it
        params, current = candidate, new
    return params, max_iter


def _versions() -> dict[str, str]:
    import scipy
    import sklearn

    import matcher

    return {"matcher": matcher.__version__, "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__}


def ranker_payload(
    model: PairRanker,
    feature_names: Sequence[str],
    training_pairs: int,
    data_version: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """The JSON document of a fitted ranker and what it was trained on (nothing pickled)."""
    payload = {
        "format": FORMAT_VERSION,
        "kind": "PairRanker",
        "feature_names": list(feature_names),
        "model": model.to_dict(),
        "training_pairs": int(training_pairs),
        "data_version": data_version,
        "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        **(extra or {}),
    }
    if len(payload["feature_names"]) != model.n_features_in_:
        raise ValueError("feature_names does not match the model's number of features")
    return json.dumps(payload, indent=2)


def ranker_from_payload(text: str | None, feature_names: Sequence[str] | None = None, where: str = "the store"
                        ) -> tuple[PairRanker, dict[str, Any]]:
    """Read a document made by :func:`ranker_payload`; returns (model, metadata).

    Raises :class:`NotTrained` when there is none, when it is unreadable, or when it was
    trained on other features than ``feature_names``.
    """
    if text is None:
        raise NotTrained(f"no ranker in {where}; run `c2c train`")
    try:
        payload = json.loads(text)
        if payload.get("format") != FORMAT_VERSION or payload.get("kind") != "PairRanker":
            raise ValueError("unknown format")
        model = PairRanker.from_dict(payload["model"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotTrained(f"the ranker in {where} is unreadable ({exc}); run `c2c train`") from None
    if feature_names is not None and list(payload["feature_names"]) != list(feature_names):
        raise NotTrained(f"the ranker in {where} was trained on other features; run `c2c train`")
    meta = {k: v for k, v in payload.items() if k != "model"}
    return model, meta


def percentiles(scores: np.ndarray, axis: int) -> np.ndarray:
    """Share of the values along ``axis`` that are <= each value (the best gets 1.0)."""
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.shape[axis]
    if n == 0:
        return scores.copy()
    ordered = np.sort(scores, axis=axis)
    if axis == 1:
        counts = np.stack([np.searchsorted(ordered[i], scores[i], side="right") for i in range(scores.shape[0])])
    else:
        counts = np.stack([np.searchsorted(ordered[:, j], scores[:, j], side="right") for j in range(scores.shape[1])], axis=1)
    return percentile_of(counts, n, joins=False)


def percentile_of(counts: np.ndarray, size: int, joins: bool = True) -> np.ndarray:
    """A value's percentile in a list of ``size`` values, ``counts`` of which are <= it.

    With ``joins`` the value is not one of the ``size`` yet and joins the list, counting itself
    once: ``(counts + 1) / (size + 1)``; otherwise ``counts / size``.
    """
    extra = 1 if joins else 0
    return (counts + extra) / (size + extra)


def reciprocal_scores(probabilities: np.ndarray) -> np.ndarray:
    """Reciprocal score of every (EU, MX) pair from the pair-probability matrix.

    A pair suits both sides when it ranks high in the European party's list of Mexican
    candidates AND in the Mexican party's list of European candidates. The score is the
    geometric mean of the pair probability's percentile in its row (the EU party's view) and
    in its column (the MX party's view): 1.0 means each is the other's best match; a pair that
    is top for one side but mediocre for the other is pulled down.
    """
    if probabilities.size == 0:
        return np.asarray(probabilities, dtype=np.float64)
    return np.sqrt(percentiles(probabilities, 1) * percentiles(probabilities, 0))
