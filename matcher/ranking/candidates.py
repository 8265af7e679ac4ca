"""Counterpart rows a query may be suggested: the filters, applied to every row or through the index."""

from __future__ import annotations

from typing import Any

import numpy as np

from matcher.errors import InvalidProfile
from matcher.intake import parse_org_type
from matcher.profiles import Side
from matcher.ranking.state import Choice, Request, State
from matcher.taxonomy import Taxonomy


def candidates(state: State, index: Any, taxonomy: Taxonomy, candidate_pool: int, side: Side,
               vector: np.ndarray, request: Request, pool: int | None = None) -> np.ndarray:
    """Counterpart rows passing the request's filters.

    Up to ``candidate_pool`` counterpart organisations every one is a candidate (filtered
    with numpy masks, the same semantics as the index's filters); beyond that the vector
    index supplies the ``pool`` (default ``candidate_pool``) nearest profiles that pass
    the filters.
    """
    from index import SearchFilters

    counterpart = side.counterpart
    try:
        types = None if request.type is None else [parse_org_type(t).value for t in listify(request.type)]
        filters = SearchFilters(side=counterpart.value, country=upper(request.country),
                                sector=listify(request.sector), type=types, taxonomy=taxonomy)
    except ValueError as exc:
        raise InvalidProfile(str(exc), "filters") from None
    ctx = state.ctx
    ids = ctx.ids(counterpart)
    if len(ids) > candidate_pool:
        hits = index.search(vector, k=pool or candidate_pool, filters=filters)
        return np.sort(ctx.rows_of(i for i, _ in hits))
    orgs = ctx.eu_orgs if counterpart is Side.EU else ctx.mx_orgs
    mask = np.ones(len(ids), dtype=bool)
    if filters.country is not None:
        mask &= np.array([o.country in filters.country for o in orgs], dtype=bool)
    if filters.type is not None:
        mask &= np.array([o.type.value in filters.type for o in orgs], dtype=bool)
    if filters.sector is not None:
        cols = [j for j, sid in enumerate(ctx.sector_ids) if sid in filters.sector]
        mask &= ctx.side_arrays(counterpart).sectors[:, cols].any(axis=1) if cols else False
    return np.flatnonzero(mask)


def listify(value: Choice) -> list[str] | None:
    """One value or several as a list (None stays None)."""
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def upper(value: Choice) -> list[str] | None:
    """Country codes as a stripped, upper-case list (None stays None)."""
    items = listify(value)
    return None if items is None else [v.strip().upper() for v in items]
