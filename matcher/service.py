"""The composition root: one :class:`Service` per process, built from :class:`Settings`.

A service opens the store (creating, migrating and seeding it when asked), the registry over
it, the API keys and feedback kept in the same store, the Suggester that follows the
registry's writes, and the event store, once; closing it closes what it opened, in reverse
order. The CLI and the HTTP API each hold one service and
reach every collaborator through it; nothing below opens a registry on its own.

Parts may be handed in ready-made (tests pass a registry on a temporary store and a Suggester
with a fast fake encoder); a service closes only what it opened itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from matcher.embeddings import Encoder
from matcher.events.store import EventStore
from matcher.settings import Settings, load_settings
from matcher.store.feedback import FeedbackStore
from matcher.store.keys import ApiKeys
from matcher.store.registry import Registry

if TYPE_CHECKING:
    from matcher.ranking import Suggester


class Service:
    """Settings, registry, API keys, feedback, Suggester and event store of one process."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        suggester: Suggester | None = None,
        *,
        encoder: Encoder | None = None,
        progress: bool = False,
        owns_registry: bool = False,
    ):
        self.settings = settings
        self.registry = registry
        self.keys = ApiKeys(registry.store)
        self.feedback = FeedbackStore(registry.store)
        self.events = EventStore(registry.store)
        self._suggester = suggester
        self._encoder = encoder
        self._progress = progress
        self._owns_registry = owns_registry
        self._owns_suggester = suggester is None

    @property
    def suggester(self) -> "Suggester":
        """The Suggester over the registry, made on first use (it loads nothing until asked)."""
        if self._suggester is None:
            # Imported here: the ranking stack (scikit-learn, SciPy) takes a second or two to
            # import, which commands that only read or write the registry need not pay.
            from matcher.ranking import Suggester

            self._suggester = Suggester(self.registry, self.settings, encoder=self._encoder, progress=self._progress)
        return self._suggester

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        init: bool = True,
        progress: bool | None = None,
        index_progress: bool = False,
        encoder: Encoder | None = None,
    ) -> "Service":
        """The service of ``settings`` (default: read from the environment now).

        ``init`` migrates and seeds the store first; ``progress`` shows a progress bar while
        seeding (default: when standard error is a terminal), ``index_progress`` while the
        vector index is built.
        """
        settings = settings or load_settings()
        registry = Registry.open(settings, init=init, progress=progress)
        if init:
            EventStore(registry.store).import_folder(Path(settings.home) / "events")
        return cls(settings, registry, encoder=encoder, progress=index_progress, owns_registry=True)

    def close(self) -> None:
        """Stop the Suggester following the registry, then close the store if this service opened it."""
        if self._owns_suggester and self._suggester is not None:
            self._suggester.close()
        if self._owns_registry:
            self.registry.close()

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
