"""Users' verdicts on suggestions (``POST /feedback``) as extra training rows for the ranker.

Documented cooperations stay the main signal. Feedback adds what happened to suggestions
after they were shown:

==================  ========  ======  ====================================================
verdict             label     weight  reading
==================  ========  ======  ====================================================
``agreement_signed``  1       1.0     as strong as a signed MoU
``met``               1       0.7     as strong as a delegation visit
``accepted``          1       0.3     an intention only, so a light positive
``declined``          0       1.0     a hard negative, beside the sampled non-pairs
==================  ========  ======  ====================================================

Rules, so that a handful of verdicts cannot distort the model:

- one verdict per pair: the newest one, whichever side gave it (a pair first accepted and
  later met counts once, as met);
- pairs on the same side are ignored (the ranker scores EU x MX pairs only);
- pairs that are documented cooperations are ignored (the record is stronger evidence
  than a verdict, and a declined meeting does not undo a signed MoU);
- verdicts about organisations no longer in the registry are ignored.

Feedback changes training rows only, never the features: graph features such as
popularity still count documented cooperations alone. The evaluation
(:mod:`matcher.evaluation`) takes organisations and cooperations and never sees feedback, so
its figures cannot be inflated by verdicts about the pairs it holds out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matcher.profiles import Side, Verdict

# verdict -> (label, sample weight); see the module docstring.
VERDICT_ROWS: dict[Verdict, tuple[int, float]] = {
    Verdict.AGREEMENT_SIGNED: (1, 1.0),
    Verdict.MET: (1, 0.7),
    Verdict.ACCEPTED: (1, 0.3),
    Verdict.DECLINED: (0, 1.0),
}


@dataclass(frozen=True)
class FeedbackRows:
    """Training rows drawn from feedback, indexed like the feature context's sides."""

    eu_rows: np.ndarray
    mx_rows: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    ignored: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def positives(self) -> int:
        return int(self.labels.sum())

    @property
    def negatives(self) -> int:
        return int(len(self.labels) - self.labels.sum())

    def summary(self) -> dict[str, Any]:
        """Counts for the model card: rows used by label, verdicts ignored by reason."""
        return {"positives": self.positives, "negatives": self.negatives, "ignored": dict(self.ignored)}


def feedback_rows(ctx: Any, feedback: Sequence[Any]) -> FeedbackRows:
    """Training rows from stored feedback (``FeedbackStore.list()``, oldest first).

    ``ctx`` is a :class:`matcher.features.FeatureContext`; each verdict has ``subject_id``,
    ``suggested_id``, ``verdict`` and ``id`` (later ids are newer).
    """
    ignored = {"same_side": 0, "documented_pair": 0, "unknown_organisation": 0, "superseded": 0}
    latest: dict[tuple[int, int], Verdict] = {}  # pair -> newest verdict
    for item in sorted(feedback, key=lambda f: f.id):
        try:
            verdict = Verdict(item.verdict)
        except ValueError:
            raise ValueError(f"unknown verdict {item.verdict!r}") from None
        if item.subject_id not in ctx or item.suggested_id not in ctx:
            ignored["unknown_organisation"] += 1
            continue
        a_side, a_row = ctx.position(item.subject_id)
        b_side, b_row = ctx.position(item.suggested_id)
        if a_side is b_side:
            ignored["same_side"] += 1
            continue
        pair = (a_row, b_row) if a_side is Side.EU else (b_row, a_row)
        if bool(ctx.adjacency[pair]):
            ignored["documented_pair"] += 1
            continue
        if pair in latest:
            ignored["superseded"] += 1
        latest[pair] = verdict
    pairs = sorted(latest)
    labels = np.array([VERDICT_ROWS[latest[p]][0] for p in pairs], dtype=int)
    weights = np.array([VERDICT_ROWS[latest[p]][1] for p in pairs], dtype=float)
    return FeedbackRows(np.array([p[0] for p in pairs], dtype=int), np.array([p[1] for p in pairs], dtype=int),
                        labels, weights, ignored)
