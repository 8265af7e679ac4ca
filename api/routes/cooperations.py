"""Documented cooperations: list (optionally of one organisation) and record new ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.auth import Reader, Writer
from api.deps import RegistryDep
from api.params import PageLimit
from api.schemas import CooperationCreate, CooperationPage, CooperationPublic

router = APIRouter(prefix="/cooperations", tags=["cooperations"])


@router.get("", response_model=CooperationPage, summary="List cooperations, optionally of one organisation")
def list_cooperations(
    caller: Reader,
    registry: RegistryDep,
    limit: PageLimit,
    org: Annotated[str | None, Query(min_length=1, max_length=200, description="organisation id")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> CooperationPage:
    if org is not None:
        registry.get(org)
    found = registry.list_cooperations(org_id=org) if org is not None else registry.all_cooperations()
    page = found[offset: offset + limit]
    return CooperationPage(
        items=[CooperationPublic.model_validate(c.model_dump()) for c in page],
        total=len(found), limit=limit, offset=offset,
    )


@router.post("", response_model=CooperationPublic, status_code=status.HTTP_201_CREATED, summary="Record a cooperation")
def create_cooperation(
    body: CooperationCreate, response: Response, caller: Writer, registry: RegistryDep
) -> CooperationPublic:
    stored = registry.add_cooperation(body.to_cooperation())
    response.headers["Location"] = f"/cooperations?org={stored.eu}"
    return CooperationPublic.model_validate(stored.model_dump())
