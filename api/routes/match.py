"""Suggestions for a profile that is not stored (``POST /match``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from api.auth import Caller, read_access
from api.deps import get_suggester
from api.present import suggestions_response
from api.schemas import COUNTRY, MatchRequest, SuggestionsPublic, validated
from matcher.errors import UnknownSector
from matcher.profiles import Organisation, OrgType, Side
from matcher.settings import Settings
from matcher.suggest import infer_sectors
from matcher.taxonomy import load_taxonomy

#: Id given to the transient profile of a match request; never stored.
QUERY_ID = "match-query"


def transient_profile(body: MatchRequest) -> Organisation:
    """The request as an :class:`Organisation`; sectors may be ids, names or synonyms (EN/ES).
    Without sectors they are read from the name and description, as ``c2c suggest --text`` does
    (the response's ``query.sectors`` says which were read)."""
    taxonomy = load_taxonomy()
    sectors: list[str] = [] if body.sectors else infer_sectors(f"{body.name}. {body.description}", taxonomy)
    for i, term in enumerate(body.sectors):
        try:
            sector = taxonomy.resolve(term)
        except UnknownSector:
            raise UnknownSector(f"unknown sector {term!r}", f"sectors.{i}") from None
        if sector not in sectors:
            sectors.append(sector)
    country = body.country or ("MX" if body.side is Side.MX else "EU")
    return validated(Organisation, {
        "id": QUERY_ID, "name": body.name, "side": body.side, "country": country,
        "type": body.type, "sectors": sectors, "description": body.description,
    })


def build(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["suggestions"])

    @router.post("/match", response_model=SuggestionsPublic, summary="Suggestions for a profile that is not stored")
    def match(
        body: MatchRequest,
        k: int = Query(default=min(10, settings.api_max_k), ge=1, le=settings.api_max_k),
        sector: str | None = Query(default=None, min_length=1, max_length=100),
        country: str | None = Query(default=None, pattern=COUNTRY),
        type: OrgType | None = None,
        diversify: bool = False,
        caller: Caller = Depends(read_access),
        suggester: Any = Depends(get_suggester),
    ) -> Response:
        org = transient_profile(body)
        result = suggester.suggest_for_profile(org, k=k, sector=sector, country=country, type=type, diversify=diversify)
        return suggestions_response(result)

    return router
