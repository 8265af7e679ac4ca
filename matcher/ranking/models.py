"""The ranker a :class:`~matcher.ranking.Suggester` serves: loaded, or trained and saved, and described.

The ranker lives in the store, as the JSON model named ``Settings().ranker_name``
(:class:`matcher.store.models.ModelStore`), so every server of one database serves the same
one. It is loaded when it was trained with the current encoder and carries a threshold and a
calibration; otherwise it is trained on the registry's documented cooperations (and, when the
settings say so, users' verdicts) and saved. The stored model's version tells when another
process (a second server, `c2c train`) saved a new one.

The calibration (:mod:`matcher.calibration`) turns the ranker's score into the chance that a
pair is a documented cooperation; it is fitted on newcomer-style out-of-fold scores with the
same recipe, without users' verdicts.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from matcher.calibration import DEFAULT_FOLDS, Calibration, fit_calibration, out_of_fold_scores
from matcher.errors import NotTrained
from matcher.feature_specs import SPECS
from matcher.features import FEATURE_NAMES, FEATURES, FeatureContext
from matcher.feedback import FeedbackRows, feedback_rows
from matcher.ranker import DEFAULT_C, DEFAULT_NEGATIVES, PairRanker, fit_ranker, ranker_from_payload, ranker_payload
from matcher.settings import Settings
from matcher.store.models import ModelStore

log = logging.getLogger("c2c.suggest")

THRESHOLD_QUANTILE = 0.05

Stamp = int


class RankerKeeper:
    """The current ranker, its calibration and saved metadata, and a generation bumped on every
    refit or load."""

    def __init__(self, registry: Any, settings: Settings):
        self.registry = registry
        self.settings = settings
        self.models = ModelStore(registry.store)
        self.model: PairRanker | None = None
        self.calibration: Calibration | None = None
        self.generation = 0
        self.stamp: Stamp | None = None  # the stored model version the ranker came from
        self.meta: dict[str, Any] = {}

    def versions(self) -> tuple[str, Stamp | None]:
        """The store's data version and the stored ranker's version (None when none is stored),
        read together."""
        return self.registry.store.versions(self.settings.ranker_name)

    def forget(self) -> None:
        """Drop the model, so the next use loads the saved one."""
        self.model, self.calibration, self.stamp = None, None, None

    def load_or_train(self, ctx: FeatureContext, version: str, encoder_name: str) -> None:
        """Load the saved ranker; train and save one when there is none fit for this encoder."""
        try:
            stored = self.models.load(self.settings.ranker_name)
            text, stamp = stored if stored is not None else (None, None)
            model, meta = ranker_from_payload(text, FEATURE_NAMES)
            if "min_probability" not in meta or "calibration" not in meta:
                raise NotTrained("the stored ranker has no threshold or calibration")
            if meta.get("encoder") != encoder_name:
                raise NotTrained(f"ranker was trained with encoder {meta.get('encoder')}, not {encoder_name}")
            calibration = None if meta.get("calibration") is None else Calibration.from_dict(meta["calibration"])
            self.model, self.meta, self.calibration, self.stamp = model, meta, calibration, stamp
            self.generation += 1
        except NotTrained as exc:
            log.info("training the ranker (%s)", exc)
            self.fit(ctx, version, encoder_name)

    def fit(self, ctx: FeatureContext, version: str, encoder_name: str) -> dict[str, Any]:
        """Train on the context's documented cooperations, fix the threshold and the calibration,
        save, and return the metadata."""
        if not ctx.adjacency.any():
            raise NotTrained("no documented cooperations to learn from; add cooperations first")
        e, m, y, w = ctx.training_rows(DEFAULT_NEGATIVES, self.settings.seed)
        X = ctx.pairs(e, m)
        feedback = self.feedback_rows(ctx)
        model = fit_ranker(ctx, DEFAULT_C, DEFAULT_NEGATIVES, self.settings.seed, feedback=feedback)
        positives = int(y.sum())
        # The threshold is read on documented cooperations only, never on verdicts.
        threshold = float(np.quantile(model.score_features(X[y == 1]), THRESHOLD_QUANTILE))
        calibration = self.calibrate(ctx)
        extra = {"C": DEFAULT_C, "negatives_per_positive": DEFAULT_NEGATIVES, "seed": self.settings.seed,
                 "positives": positives, "negatives": int(len(y) - positives),
                 "feedback": feedback.summary() if feedback is not None else None,
                 "base_rate": float(w[y == 1].sum() / w.sum()), "min_probability": threshold,
                 "threshold_rule": f"{THRESHOLD_QUANTILE:.0%} quantile of the training cooperations' probabilities",
                 "encoder": encoder_name, "calibration": calibration.to_dict() if calibration else None}
        payload = ranker_payload(model, FEATURE_NAMES, positives, version, extra)
        self.stamp = self.models.save(self.settings.ranker_name, payload)
        self.model, self.calibration = model, calibration
        self.generation += 1
        self.meta = {k: v for k, v in json.loads(payload).items() if k != "model"}
        log.info("trained the ranker on %d documented pairs and %d sampled non-pairs", positives, len(y) - positives)
        return self.meta

    def calibrate(self, ctx: FeatureContext) -> Calibration | None:
        """Platt calibration on newcomer-style out-of-fold scores of the documented pairs; None
        when too few cooperations are documented for one."""
        seed = self.settings.seed
        try:
            oof = out_of_fold_scores(ctx, lambda sub: fit_ranker(sub, DEFAULT_C, DEFAULT_NEGATIVES, seed),
                                     DEFAULT_FOLDS, seed)
            return fit_calibration(oof.probabilities, oof.labels, DEFAULT_FOLDS)
        except (NotTrained, ValueError) as exc:
            log.warning("the ranker's scores are left uncalibrated: %s", exc)
            return None

    def feedback_rows(self, ctx: FeatureContext) -> FeedbackRows | None:
        """Users' verdicts as training rows, or None when the settings leave them out."""
        if not self.settings.train_with_feedback:
            return None
        list_feedback = getattr(self.registry, "list_feedback", None)
        return feedback_rows(ctx, list_feedback()) if callable(list_feedback) else None

    def coefficients(self) -> dict[str, float]:
        """Each feature's coefficient, rounded for display."""
        return dict(zip(FEATURE_NAMES, np.round(self.model.coef_, 4).tolist()))

    def card(self, ctx: FeatureContext, version: str, encoder_name: str, min_probability: float) -> dict[str, Any]:
        """What the ranker is, what it learned from, and how scores are made."""
        coef = self.coefficients()
        return {
            "model": "PairRanker: L2-penalised logistic regression on standardised pair features, "
                     "similarity features constrained to non-negative weights",
            "features": {name: {"meaning": FEATURES[name], "coefficient": coef[name]} for name in FEATURE_NAMES},
            "intercept": round(self.model.intercept_, 4),
            "unknown_history": {"meaning": "value used for a history feature of an organisation with no other "
                                           "documented partner: the feature's mean over the training rows",
                                "values": {name: round(float(value), 4) for name, value
                                           in zip(FEATURE_NAMES, self.model.fill_) if SPECS[name].history is not None}},
            "training_pairs": self.meta.get("training_pairs"),
            "negatives": self.meta.get("negatives"),
            "feedback": self.meta.get("feedback"),
            "negatives_per_positive": self.meta.get("negatives_per_positive"),
            "trained_on_data_version": self.meta.get("data_version"),
            "current_data_version": version,
            "trained_at": self.meta.get("trained_at"),
            "versions": self.meta.get("versions"),
            "encoder": encoder_name,
            "score": "reciprocal: geometric mean of the pair probability's percentile in both sides' candidate lists",
            "probability": "calibrated: the chance that such a pair is a documented cooperation, as measured on "
                           "organisations held out of training (Platt scaling of the ranker's score)",
            "calibration": self.meta.get("calibration"),
            "min_probability": min_probability,
            "organisations": {"EU": len(ctx.eu_ids), "MX": len(ctx.mx_ids)},
            "cooperations": len(ctx.cooperations),
            "limitations": "Learned from a few dozen documented EU-Mexico cooperations. The probability is "
                           "calibrated on documented pairs, and many real cooperations are undocumented: read "
                           "it as a floor for the chance of cooperation, not a forecast of an agreement.",
        }
