"""Cluster profiles: list, read, create, change, delete, and partner suggestions for one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Response, status

from api.auth import Caller, read_access, require
from api.deps import get_registry, get_rendered, get_suggester
from api.present import fetch, json_response
from api.schemas import COUNTRY, ClusterCreate, ClusterPage, ClusterPatch, ClusterPublic, SuggestionsPublic
from matcher.errors import UnknownOrganisation
from matcher.profiles import OrgType, Side
from matcher.settings import Settings

ID = Path(min_length=1, max_length=200, description="organisation id (slug)")


def build(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/clusters", tags=["clusters"])

    @router.get("", response_model=ClusterPage, summary="List profiles, filtered and paginated")
    def list_clusters(
        side: Side | None = None,
        country: str | None = Query(default=None, pattern=COUNTRY),
        sector: str | None = Query(default=None, min_length=1, max_length=100, description="sector id; includes its subsectors"),
        type: OrgType | None = None,
        q: str | None = Query(default=None, min_length=1, max_length=200, description="name search"),
        limit: int = Query(default=min(50, settings.api_max_page_size), ge=1, le=settings.api_max_page_size),
        offset: int = Query(default=0, ge=0, le=10_000_000),
        caller: Caller = Depends(read_access),
        registry: Any = Depends(get_registry),
    ) -> ClusterPage:
        filters = dict(side=side, country=country, sector=sector, type=type, q=q)
        items = registry.list_organisations(**filters, limit=limit, offset=offset)
        total = registry.count_organisations(**filters)
        return ClusterPage(
            items=[ClusterPublic.of(o, caller.keyed) for o in items], total=total, limit=limit, offset=offset
        )

    @router.get("/{id}", response_model=ClusterPublic, summary="One profile (404 for an unknown id)")
    def get_cluster(
        id: str = ID, caller: Caller = Depends(read_access), registry: Any = Depends(get_registry)
    ) -> ClusterPublic:
        return ClusterPublic.of(fetch(registry, id), caller.keyed)

    @router.post("", response_model=ClusterPublic, status_code=status.HTTP_201_CREATED, summary="Create a profile")
    def create_cluster(
        body: ClusterCreate,
        response: Response,
        caller: Caller = Depends(require("write")),
        registry: Any = Depends(get_registry),
    ) -> ClusterPublic:
        stored = registry.create(body.to_organisation())
        response.headers["Location"] = f"/clusters/{stored.id}"
        return ClusterPublic.of(stored, True)

    @router.patch("/{id}", response_model=ClusterPublic, summary="Change some fields of a profile")
    def patch_cluster(
        body: ClusterPatch,
        id: str = ID,
        caller: Caller = Depends(require("write")),
        registry: Any = Depends(get_registry),
    ) -> ClusterPublic:
        return ClusterPublic.of(registry.update(id, body.changes()), True)

    @router.delete(
        "/{id}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        summary="Delete a profile (from the store, the index and every cached suggestion)",
    )
    def delete_cluster(
        id: str = ID, caller: Caller = Depends(require("write")), registry: Any = Depends(get_registry)
    ) -> Response:
        registry.delete(id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/{id}/partners", response_model=SuggestionsPublic, summary="Partner suggestions for a profile")
    def partners(
        id: str = ID,
        k: int = Query(default=min(10, settings.api_max_k), ge=1, le=settings.api_max_k),
        sector: str | None = Query(default=None, min_length=1, max_length=100),
        country: str | None = Query(default=None, pattern=COUNTRY),
        type: OrgType | None = None,
        exclude_existing: bool = False,
        diversify: bool = False,
        caller: Caller = Depends(read_access),
        suggester: Any = Depends(get_suggester),
        rendered: Any = Depends(get_rendered),
    ) -> Response:
        def compute() -> Any:
            result = suggester.suggest(
                id, k=k, sector=sector, country=country, type=type,
                exclude_existing=exclude_existing, diversify=diversify,
            )
            if result.query.id != id:  # the Suggester also accepts names; a resource path does not
                raise UnknownOrganisation(id, [result.query.id] if result.query.id else [])
            return result

        key = (id, k, sector, country, type, exclude_existing, diversify)
        return json_response(rendered.get_or_render(key, suggester.results_version, compute))

    return router
