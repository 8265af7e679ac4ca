"""Verdicts on suggestions (``POST /feedback``), stored for later retraining and evaluation."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.auth import Writer
from api.deps import FeedbackDep
from api.schemas import FeedbackCreate, FeedbackPublic
from matcher.errors import InvalidProfile

router = APIRouter(tags=["feedback"])


@router.post("/feedback", response_model=FeedbackPublic, status_code=status.HTTP_201_CREATED,
             summary="Record what became of a suggestion (accepted, declined, met, agreement_signed)")
def add_feedback(body: FeedbackCreate, caller: Writer, feedback: FeedbackDep) -> FeedbackPublic:
    if body.org == body.partner:
        raise InvalidProfile("an organisation cannot be suggested to itself", "partner")
    stored = feedback.add(body.org, body.partner, body.verdict.value, comment=body.note, api_key_id=caller.key_id)
    return FeedbackPublic(id=stored.id, org=stored.subject_id, partner=stored.suggested_id,
                          verdict=stored.verdict.value, note=stored.comment, created_at=stored.created_at)
