"""The ranker a :class:`~matcher.ranking.Suggester` serves: loaded, or trained and saved, and described.

The ranker lives in ``Settings().ranker_dir``. It is loaded when it was trained with the
current encoder and carries a threshold; otherwise it is trained on the registry's documented
cooperations (and, when the settings say so, users' verdicts) and saved. The identity of the
saved file (inode, size, modification time) tells when another process saved a new one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from matcher.errors import NotTrained
from matcher.features import FEATURE_NAMES, FEATURES, FeatureContext
from matcher.feedback import FeedbackRows, feedback_rows
from matcher.ranker import DEFAULT_C, DEFAULT_NEGATIVES, RANKER_FILE, PairRanker, fit_ranker, load_ranker, save_ranker
from matcher.settings import Settings

log = logging.getLogger("c2c.suggest")

THRESHOLD_QUANTILE = 0.05

Stamp = tuple[int, int, int]


class RankerKeeper:
    """The current ranker, its saved metadata, and a generation bumped on every refit or load."""

    def __init__(self, registry: Any, settings: Settings):
        self.registry = registry
        self.settings = settings
        self.model: PairRanker | None = None
        self.generation = 0
        self.stamp: Stamp | None = None  # the saved ranker file the model came from
        self.meta: dict[str, Any] = {}

    def saved_stamp(self) -> Stamp | None:
        """Identity of the saved ranker file (inode, size, modification time), None if absent."""
        try:
            st = os.stat(Path(self.settings.ranker_dir) / RANKER_FILE)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def forget(self) -> None:
        """Drop the model, so the next use loads the saved one."""
        self.model, self.stamp = None, None

    def load_or_train(self, ctx: FeatureContext, version: str, encoder_name: str) -> None:
        """Load the saved ranker; train and save one when there is none fit for this encoder."""
        try:
            stamp = self.saved_stamp()
            self.model, self.meta = load_ranker(self.settings.ranker_dir, FEATURE_NAMES)
            self.stamp = stamp
            self.generation += 1
            if "min_probability" not in self.meta:
                raise NotTrained("ranker file has no threshold")
            if self.meta.get("encoder") != encoder_name:
                raise NotTrained(f"ranker was trained with encoder {self.meta.get('encoder')}, not {encoder_name}")
        except NotTrained as exc:
            log.info("training the ranker (%s)", exc)
            self.fit(ctx, version, encoder_name)

    def fit(self, ctx: FeatureContext, version: str, encoder_name: str) -> dict[str, Any]:
        """Train on the context's documented cooperations, fix the threshold, save, and return the metadata."""
        if not ctx.adjacency.any():
            raise NotTrained("no documented cooperations to learn from; add cooperations first")
        e, m, y, w = ctx.training_rows(DEFAULT_NEGATIVES, self.settings.seed)
        X = ctx.pairs(e, m)
        feedback = self.feedback_rows(ctx)
        model = fit_ranker(ctx, DEFAULT_C, DEFAULT_NEGATIVES, self.settings.seed, feedback=feedback)
        positives = int(y.sum())
        # The threshold is read on documented cooperations only, never on verdicts.
        threshold = float(np.quantile(model.score_features(X[y == 1]), THRESHOLD_QUANTILE))
        extra = {"C": DEFAULT_C, "negatives_per_positive": DEFAULT_NEGATIVES, "seed": self.settings.seed,
                 "positives": positives, "negatives": int(len(y) - positives),
                 "feedback": feedback.summary() if feedback is not None else None,
                 "base_rate": float(w[y == 1].sum() / w.sum()), "min_probability": threshold,
                 "threshold_rule": f"{THRESHOLD_QUANTILE:.0%} quantile of the training cooperations' probabilities",
                 "encoder": encoder_name}
        try:
            save_ranker(model, self.settings.ranker_dir, FEATURE_NAMES, positives, version, extra)
            self.stamp = self.saved_stamp()
        except OSError as exc:
            log.warning("could not save the ranker to %s: %s", self.settings.ranker_dir, exc)
            self.stamp = None
        self.model = model
        self.generation += 1
        self.meta = {"feature_names": list(FEATURE_NAMES), "training_pairs": positives, "data_version": version, **extra}
        log.info("trained the ranker on %d documented pairs and %d sampled non-pairs", positives, len(y) - positives)
        return self.meta

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
            "min_probability": min_probability,
            "organisations": {"EU": len(ctx.eu_ids), "MX": len(ctx.mx_ids)},
            "cooperations": len(ctx.cooperations),
            "limitations": "Learned from a few dozen documented EU-Mexico cooperations; scores rank "
                           "candidates, they are not calibrated probabilities of a future agreement.",
        }
