"""Documented cooperations: list (optionally of one organisation) and record new ones."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response, status

from api.auth import Caller, read_access, require
from api.deps import get_registry
from api.present import fetch
from api.schemas import CooperationCreate, CooperationPage, CooperationPublic
from matcher.settings import Settings


def build(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/cooperations", tags=["cooperations"])

    @router.get("", response_model=CooperationPage, summary="List cooperations, optionally of one organisation")
    def list_cooperations(
        org: str | None = Query(default=None, min_length=1, max_length=200, description="organisation id"),
        limit: int = Query(default=min(50, settings.api_max_page_size), ge=1, le=settings.api_max_page_size),
        offset: int = Query(default=0, ge=0, le=10_000_000),
        caller: Caller = Depends(read_access),
        registry: Any = Depends(get_registry),
    ) -> CooperationPage:
        if org is not None:
            fetch(registry, org)
        found = registry.list_cooperations(org_id=org) if org is not None else registry.all_cooperations()
        page = found[offset: offset + limit]
        return CooperationPage(
            items=[CooperationPublic.model_validate(c.model_dump()) for c in page],
            total=len(found), limit=limit, offset=offset,
        )

    @router.post("", response_model=CooperationPublic, status_code=status.HTTP_201_CREATED, summary="Record a cooperation")
    def create_cooperation(
        body: CooperationCreate,
        response: Response,
        caller: Caller = Depends(require("write")),
        registry: Any = Depends(get_registry),
    ) -> CooperationPublic:
        coop = body.to_cooperation()
        stored = registry.add_cooperation(coop)
        stored = stored if stored is not None else coop
        response.headers["Location"] = f"/cooperations?org={stored.eu}"
        return CooperationPublic.model_validate(stored.model_dump())

    return router
