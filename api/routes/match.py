"""Suggestions for a profile that is not stored (``POST /match``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.auth import Reader
from api.deps import SuggesterDep
from api.params import TopK
from api.present import suggestions_response
from api.schemas import COUNTRY, MatchRequest, SuggestionsPublic
from matcher.intake import new_organisation, resolve_sectors
from matcher.profiles import Organisation, OrgType
from matcher.ranking import Suggester
from matcher.taxonomy import load_taxonomy

#: Id given to the transient profile of a match request; never stored.
QUERY_ID = "match-query"


def transient_profile(body: MatchRequest, suggester: Suggester) -> Organisation:
    """The request as an :class:`Organisation`; sectors may be ids, names or synonyms (EN/ES).
    Without sectors the main one is read from the name and description, as ``c2c suggest
    --text`` does (the response's ``query.sectors`` says which was read)."""
    sectors = (resolve_sectors(body.sectors, load_taxonomy()) if body.sectors
               else suggester.read_sectors(f"{body.name}. {body.description}"))
    return new_organisation(id=QUERY_ID, name=body.name, side=body.side, country=body.country, type=body.type,
                            sectors=sectors, description=body.description)


router = APIRouter(tags=["suggestions"])


@router.post("/match", response_model=SuggestionsPublic, summary="Suggestions for a profile that is not stored")
def match(
    body: MatchRequest,
    caller: Reader,
    suggester: SuggesterDep,
    k: TopK,
    sector: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    country: Annotated[str | None, Query(pattern=COUNTRY)] = None,
    type: OrgType | None = None,
    diversify: bool = False,
) -> Response:
    org = transient_profile(body, suggester)
    result = suggester.suggest_for_profile(org, k=k, sector=sector, country=country, type=type, diversify=diversify)
    return suggestions_response(result)
