"""From scored candidates to a list: threshold, fit, order, diversification, explanations, note.

A candidate is shown when its probability is at least the threshold and, with the fit rule
on, when it fits the query at all (:func:`matcher.features.fits`). Candidates are ordered by
the pair probability, ties broken by the reciprocal score; with ``diversify`` the order is
re-ranked by maximal marginal relevance (:func:`mmr`). A short list is never padded: its note
says why it is short.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from matcher.errors import InvalidProfile
from matcher.features import fits
from matcher.profiles import Organisation, Side
from matcher.ranking.results import QueryInfo, Suggestion, SuggestionList
from matcher.ranking.state import Request, State

MMR_LAMBDA = 0.7


def check_k(k: int, limit: int) -> None:
    """Refuse a list length that is not an integer from 1 to ``limit``."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1 or k > limit:
        raise InvalidProfile(f"k must be an integer from 1 to {limit}", "k")


def mmr(order: np.ndarray, relevance: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Maximal marginal relevance re-ordering of ``order`` (best first) for the first k picks."""
    if len(order) <= 1:
        return order
    sims = vectors[order] @ vectors[order].T
    rel = relevance[order]
    chosen: list[int] = [0]
    left = list(range(1, len(order)))
    while left and len(chosen) < k:
        penalty = sims[np.ix_(left, chosen)].max(1)
        gain = MMR_LAMBDA * rel[left] - (1 - MMR_LAMBDA) * penalty
        best = left[int(np.argmax(gain))]
        chosen.append(best)
        left.remove(best)
    return np.concatenate([order[chosen], order[left]])


def select(state: State, query: Organisation, query_id: str | None, vector: np.ndarray, prob: np.ndarray,
           recip: np.ndarray, features: Any, known: np.ndarray, rows: np.ndarray, request: Request,
           floor: float, require_fit: bool) -> SuggestionList:
    """The suggestion list for ``query`` from its scored candidate ``rows`` (counterpart positions)."""
    k = request.k
    side = query.side
    ctx = state.ctx
    rows = rows[~ctx.side_arrays(side.counterpart).closed[rows]]  # closed organisations are history
    if request.exclude_existing:
        rows = rows[~known[rows]]
    if require_fit and len(rows):
        fitting = rows[fits(features[rows])]
    else:
        fitting = rows
    passing = fitting[prob[fitting] >= floor]
    # Ordered by the pair probability: in every cross-validated protocol the one-way
    # probability ranked the true partner higher than the reciprocal score did.
    order = passing[np.lexsort((-recip[passing], -prob[passing]))]
    if request.diversify:
        order = mmr(order, prob, ctx.side_arrays(side.counterpart).vectors, k)
    items = []
    for rank, j in enumerate(order[:k], start=1):
        cand = ctx.org(side.counterpart, int(j))
        cand_vec = ctx.side_arrays(side.counterpart).vectors[j]
        eu, mx = (query, cand) if side is Side.EU else (cand, query)
        eu_vec, mx_vec = (vector, cand_vec) if side is Side.EU else (cand_vec, vector)
        explanation = state.explainer.explain(eu, mx, features[j], eu_vec, mx_vec, query_side=side)
        items.append(Suggestion(rank=rank, id=cand.id, name=cand.name, side=cand.side, country=cand.country,
                                type=cand.type, sectors=cand.sectors, score=round(float(recip[j]), 4),
                                probability=state.probability(float(prob[j])), explanation=explanation))
    if not ctx.ids(side.counterpart):
        note = f"no {side.counterpart.value} organisation is registered yet"
    else:
        note = _note(query, k, len(items), len(rows), len(fitting), len(passing), floor)
    if query.facts.closed is not None:
        closed = f"{query.name} closed in {query.facts.closed}; it is not suggested to others"
        note = f"{closed}; {note}" if note else closed
    result = SuggestionList(query=QueryInfo(id=query_id, name=query.name, side=side, sectors=query.sectors),
                            items=items, note=note, filters=request.filters(), data_version=state.version)
    result._results_version = state.results_version
    return result


def _note(query: Organisation, k: int, shown: int, candidates: int, fitting: int, passing: int,
          floor: float) -> str | None:
    """Why a list is shorter than ``k`` (None when it is not)."""
    if shown >= k:
        return None
    if not candidates:
        return "no organisation on the other side matches the filters"
    if fitting < k and fitting == passing:
        return (f"only {fitting} organisation(s) on the other side share a sector, a declared "
                f"interest or profile content with {query.name}; the list is not padded with unrelated ones")
    if not shown:
        return (f"no candidate scores well for {query.name}: every pair probability is below the "
                f"threshold {floor:.3f}; try a broader profile or fewer filters")
    return (f"only {shown} candidate(s) score above the threshold {floor:.3f}; "
            "the list is not padded with weaker ones")
