"""Change callbacks: who hears about a committed write, and how a failing listener is contained."""

from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger(__name__)

Callback = Callable[[str, str], None]


class Changes:
    """Listeners of ``(event, org_id)`` after every committed organisation or cooperation write."""

    def __init__(self) -> None:
        self._subscribers: list[Callback] = []

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event, org_id)`` after every committed write; returns a function that
        unsubscribes. A failing callback is logged, never undoes the write, and does not stop
        the other callbacks."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: str, *org_ids: str) -> None:
        """Tell every listener that ``event`` happened to each of ``org_ids``."""
        for org_id in org_ids:
            for callback in list(self._subscribers):
                try:
                    callback(event, org_id)
                except Exception:  # a subscriber's bug must not turn a committed write into an error
                    log.exception("registry subscriber failed on %s %s", event, org_id)
