"""Turning the core's results into the API's public bodies (no scoring happens here)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from fastapi import Response
from pydantic import BaseModel

from api.schemas import SuggestionsPublic
from matcher.profiles import Organisation


def fetch(registry: Any, org_id: str) -> Organisation:
    """The stored profile with this exact id; :class:`UnknownOrganisation` (a 404) if none."""
    return registry.get(org_id)


def suggestions(result: BaseModel) -> SuggestionsPublic:
    """Public body of a Suggester result (a ``SuggestionList``)."""
    return SuggestionsPublic.model_validate(result.model_dump())


class _RenderedSuggestions:
    """Serialised bodies of the Suggester's recent results, by result object.

    The Suggester hands back the same ``SuggestionList`` object for a repeated query until the
    data changes, so its JSON is built once; the entry holds the object itself, which keeps
    its ``id`` from being reused while the entry lives.
    """

    def __init__(self, size: int = 512):
        self.size = size
        self._items: OrderedDict[int, tuple[BaseModel, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, result: BaseModel) -> bytes:
        key = id(result)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] is result:
                self._items.move_to_end(key)
                return hit[1]
        body = suggestions(result).model_dump_json().encode()
        with self._lock:
            self._items[key] = (result, body)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return body


render_suggestions = _RenderedSuggestions()


def suggestions_response(result: BaseModel, cached: bool = True) -> Response:
    """A ready JSON response for a Suggester result (validated against the public schema).

    ``cached=False`` for one-off results (``/match``), which would only crowd the cache.
    """
    body = render_suggestions(result) if cached else suggestions(result).model_dump_json().encode()
    return Response(body, media_type="application/json")

