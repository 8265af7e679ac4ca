"""Verdicts on suggestions, kept for retraining (:mod:`matcher.feedback` turns them into rows)."""

from __future__ import annotations

from sqlalchemy import select

from matcher.errors import InvalidProfile, UnknownApiKey
from matcher.profiles import Feedback, Verdict
from matcher.store.engine import Store
from matcher.store.records import unknown_organisation
from matcher.store.tables import ApiKeyRow, FeedbackRow, OrganisationRow, utcnow
from matcher.store.values import choice


class FeedbackStore:
    """The verdicts kept in a store; they touch neither the data version nor the registry's callbacks."""

    def __init__(self, store: Store):
        self.store = store

    def add(
        self,
        subject_id: str,
        suggested_id: str,
        verdict: Verdict | str,
        comment: str | None = None,
        api_key_id: str | None = None,
    ) -> Feedback:
        """Record what became of suggesting ``suggested_id`` to ``subject_id``."""
        verdict = choice(Verdict, verdict, "verdict")
        if subject_id == suggested_id:
            raise InvalidProfile("an organisation cannot be suggested to itself", "suggested_id")
        if comment is not None and len(comment) > 2000:
            raise InvalidProfile("at most 2000 characters", "comment")
        with self.store.write() as s:
            for org_id in (subject_id, suggested_id):
                if s.get(OrganisationRow, org_id) is None:
                    raise unknown_organisation(s, org_id)
            if api_key_id is not None and s.get(ApiKeyRow, api_key_id) is None:
                raise UnknownApiKey(f"no API key has id {api_key_id!r}")
            row = FeedbackRow(subject_id=subject_id, suggested_id=suggested_id, verdict=verdict.value,
                              comment=comment, created_at=utcnow(), api_key_id=api_key_id)
            s.add(row)
            s.flush()
            return _feedback(row)

    def list(self, subject_id: str | None = None) -> list[Feedback]:
        """Every verdict (about ``subject_id`` when given), oldest first."""
        stmt = select(FeedbackRow).order_by(FeedbackRow.id)
        if subject_id is not None:
            stmt = stmt.where(FeedbackRow.subject_id == subject_id)
        with self.store.read() as s:
            return [_feedback(r) for r in s.scalars(stmt)]


def _feedback(row: FeedbackRow) -> Feedback:
    return Feedback(row.id, row.subject_id, row.suggested_id, Verdict(row.verdict), row.comment, row.created_at,
                    row.api_key_id)
