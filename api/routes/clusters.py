"""Cluster profiles: list, read, create, change, delete, and partner suggestions for one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from api.auth import Reader, Writer
from api.deps import RegistryDep, RenderedDep, SuggesterDep
from api.params import PageLimit, TopK
from api.present import json_response
from api.schemas import COUNTRY, ClusterCreate, ClusterPage, ClusterPatch, ClusterPublic, SuggestionsPublic
from matcher.errors import UnknownOrganisation
from matcher.profiles import OrgType, Side
from matcher.ranking import SuggestionList

Id = Annotated[str, Path(min_length=1, max_length=200, description="organisation id (slug)")]
Country = Annotated[str | None, Query(pattern=COUNTRY)]
Sector = Annotated[str | None, Query(min_length=1, max_length=100)]

router = APIRouter(prefix="/clusters", tags=["clusters"])


@router.get("", response_model=ClusterPage, summary="List profiles, filtered and paginated")
def list_clusters(
    caller: Reader,
    registry: RegistryDep,
    limit: PageLimit,
    side: Side | None = None,
    country: Country = None,
    sector: Annotated[str | None, Query(min_length=1, max_length=100, description="sector id; includes its subsectors")] = None,
    type: OrgType | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200, description="name search")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ClusterPage:
    filters = dict(side=side, country=country, sector=sector, type=type, q=q)
    items = registry.list_organisations(**filters, limit=limit, offset=offset)
    total = registry.count_organisations(**filters)
    return ClusterPage(
        items=[ClusterPublic.of(o, caller.keyed) for o in items], total=total, limit=limit, offset=offset
    )


@router.get("/{id}", response_model=ClusterPublic, summary="One profile (404 for an unknown id)")
def get_cluster(id: Id, caller: Reader, registry: RegistryDep) -> ClusterPublic:
    return ClusterPublic.of(registry.get(id), caller.keyed)


@router.post("", response_model=ClusterPublic, status_code=status.HTTP_201_CREATED, summary="Create a profile")
def create_cluster(body: ClusterCreate, response: Response, caller: Writer, registry: RegistryDep) -> ClusterPublic:
    stored = registry.create(body.to_organisation())
    response.headers["Location"] = f"/clusters/{stored.id}"
    return ClusterPublic.of(stored, True)


@router.patch("/{id}", response_model=ClusterPublic, summary="Change some fields of a profile")
def patch_cluster(body: ClusterPatch, id: Id, caller: Writer, registry: RegistryDep) -> ClusterPublic:
    return ClusterPublic.of(registry.update(id, body.changes()), True)


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a profile (from the store, the index and every cached suggestion)",
)
def delete_cluster(id: Id, caller: Writer, registry: RegistryDep) -> Response:
    registry.delete(id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{id}/partners", response_model=SuggestionsPublic, summary="Partner suggestions for a profile")
def partners(
    id: Id,
    caller: Reader,
    suggester: SuggesterDep,
    rendered: RenderedDep,
    k: TopK,
    sector: Sector = None,
    country: Country = None,
    type: OrgType | None = None,
    exclude_existing: bool = False,
    diversify: bool = False,
) -> Response:
    def compute() -> SuggestionList:
        result = suggester.suggest(
            id, k=k, sector=sector, country=country, type=type,
            exclude_existing=exclude_existing, diversify=diversify,
        )
        if result.query.id != id:  # the Suggester also accepts names; a resource path does not
            raise UnknownOrganisation(id, [result.query.id] if result.query.id else [])
        return result

    key = (id, k, sector, country, type, exclude_existing, diversify)
    return json_response(rendered.get_or_render(key, suggester.results_version, compute,
                                                confirm=suggester.all_registered))
