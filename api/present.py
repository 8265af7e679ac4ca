"""Turning the core's results into the API's public bodies (no scoring happens here)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from fastapi import Response
from pydantic import BaseModel

from api.schemas import SuggestionsPublic


def suggestions(result: BaseModel) -> SuggestionsPublic:
    """Public body of a Suggester result (a ``SuggestionList``)."""
    # Read from the result's attributes: the same body as validating its dump, without the dump.
    return SuggestionsPublic.model_validate(result, from_attributes=True)


def mentioned(result: BaseModel) -> tuple[str, ...]:
    """Ids of the registered organisations a Suggester result names: its query's and its items'."""
    query = getattr(getattr(result, "query", None), "id", None)
    items = tuple(item.id for item in getattr(result, "items", ()))
    return ((query,) if query else ()) + items


def render(result: BaseModel) -> bytes:
    """JSON body of a Suggester result, validated against the public schema."""
    return suggestions(result).model_dump_json().encode()


class RenderedSuggestions:
    """Rendered JSON bodies of recent suggestion requests, by request and results version.

    Bounded by entries (``size``) and by total bytes (``max_bytes``, 32 MiB by default), least
    recently used first out, so even lists of the largest ``k`` cannot grow a worker's memory
    by more than that.

    Only bytes are kept (with the ids of the organisations a body names), never the result
    objects: a few hundred cached lists of pydantic objects would hold hundreds of thousands of
    objects that every full garbage collection walks, pausing the server for tens of
    milliseconds. Entries of an older results version are dropped as soon as a newer version is
    seen. While a background rebuild runs, the previous version's bodies keep being served, each
    after ``confirm`` says that the organisations it names are all still registered (a deleted
    profile is never served from here).
    """

    def __init__(self, size: int = 4096, max_bytes: int = 32 * 1024 * 1024):
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[bytes, tuple[str, ...]]] = OrderedDict()
        self._bytes = 0
        self._version: str | None = None
        self._lock = threading.Lock()

    def get_or_render(self, key: Hashable, version: Callable[[], str], compute: Callable[[], BaseModel],
                      confirm: Callable[[str, tuple[str, ...]], bool] | None = None) -> bytes:
        """The cached body for ``key``, or ``compute()``'s result rendered and kept.

        ``version()`` names what results depend on (the Suggester's ``results_version``). A
        body is kept only if it was made on the version read before computing: the version a
        result carries says so; for a result that carries none, ``version()`` is read again.
        A cached body is served only if ``confirm`` (when given) accepts it, called with the
        version it was made on and the ids of the organisations it names; otherwise it is
        computed again.
        """
        before = version()
        with self._lock:
            if before != self._version:
                self._clear()
                self._version = before
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
        if entry is not None and (confirm is None or confirm(before, entry[1])):
            return entry[0]
        result = compute()
        body = render(result)
        made_on = getattr(result, "_results_version", "") or version()
        if made_on == before and len(body) <= self.max_bytes:  # no write or refit happened meanwhile
            named = mentioned(result)
            with self._lock:
                if self._version == before:
                    old = self._items.pop(key, None)
                    self._bytes += len(body) - (len(old[0]) if old is not None else 0)
                    self._items[key] = (body, named)
                    while len(self._items) > self.size or self._bytes > self.max_bytes:
                        self._bytes -= len(self._items.popitem(last=False)[1][0])
        return body

    def clear(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self._items.clear()
        self._bytes = 0

    @property
    def bytes(self) -> int:
        """Total size of the bodies held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)


def json_response(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def suggestions_response(result: BaseModel) -> Response:
    """A ready JSON response for a one-off Suggester result (``/match``)."""
    return json_response(render(result))
