"""The response models of a suggestion call: one list of suggested partners for one query."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

from matcher.explain import Explanation
from matcher.profiles import OrgType, Side


class Suggestion(BaseModel):
    """One suggested partner."""

    rank: int
    id: str
    name: str
    side: Side
    country: str
    type: OrgType
    sectors: list[str]
    score: float = Field(description="reciprocal score in [0, 1]: how high the pair ranks in both sides' lists")
    probability: float | None = Field(description=(
        "calibrated chance that such a pair is a documented cooperation, as measured on organisations held "
        "out of training; None when too few cooperations are documented to calibrate. The list is "
        "ordered by the ranker's score, which this follows"))
    explanation: Explanation


class QueryInfo(BaseModel):
    id: str | None
    name: str
    side: Side
    sectors: list[str] = Field(default_factory=list, description="the query's sectors (read from its text when none were given)")


class SuggestionList(BaseModel):
    """Suggestions for one organisation, best first, with a note when few score well."""

    query: QueryInfo
    items: list[Suggestion]
    note: str | None = None
    filters: dict[str, Any] = Field(default_factory=dict)
    data_version: str = ""
    # What the list was computed on (:meth:`Suggester.results_version`); not part of the body.
    _results_version: str = PrivateAttr(default="")
