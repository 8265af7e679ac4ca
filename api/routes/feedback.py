"""Verdicts on suggestions (``POST /feedback``), stored for later retraining and evaluation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, status

from api.auth import Caller, require
from api.deps import get_registry
from api.schemas import FeedbackCreate, FeedbackPublic
from matcher.errors import InvalidProfile
from matcher.settings import Settings


def build(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["feedback"])

    @router.post("/feedback", response_model=FeedbackPublic, status_code=status.HTTP_201_CREATED,
                 summary="Record what became of a suggestion (accepted, declined, met, agreement_signed)")
    def add_feedback(
        body: FeedbackCreate,
        caller: Caller = Depends(require("write")),
        registry: Any = Depends(get_registry),
    ) -> FeedbackPublic:
        if body.org == body.partner:
            raise InvalidProfile("an organisation cannot be suggested to itself", "partner")
        stored = registry.add_feedback(body.org, body.partner, body.verdict.value, comment=body.note,
                                       api_key_id=caller.key_id)
        return FeedbackPublic(id=stored.id, org=stored.subject_id, partner=stored.suggested_id,
                              verdict=stored.verdict.value, note=stored.comment, created_at=stored.created_at)

    return router
