"""The vector index a :class:`~matcher.ranking.Suggester` searches, kept in step with the registry.

On first use the saved index is checked against the registry's profiles (rebuilt or patched by
:func:`matcher.indexing.ensure_index`, with a log line); the registry's writes in this process
are then applied one profile at a time, and profiles written by another process are reconciled
when the data version moves.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np

from matcher.embeddings import Encoder
from matcher.profiles import Organisation
from matcher.settings import Settings
from matcher.taxonomy import Taxonomy


class IndexKeeper:
    """The index, the write-by-write sync that patches it, and the registry subscription."""

    def __init__(self, registry: Any, settings: Settings, taxonomy: Taxonomy, progress: bool = False):
        self.registry = registry
        self.settings = settings
        self.taxonomy = taxonomy
        self.progress = progress
        self.index: Any = None
        self.lock = threading.RLock()  # the write-by-write sync, reconciliation and saves
        self._sync: Any = None
        self._unsubscribe: Callable[[], Any] | None = None

    def follow(self, orgs: list[Organisation], version: str, encoder: Encoder,
               on_write: Callable[[str, str], None]) -> None:
        """Open the index on first use (subscribing ``on_write`` to the registry), else reconcile it.

        Reconciling takes the lock one profile at a time, so this process's writes are not held
        up while it catches up with another process's."""
        if self.index is None:
            with self.lock:
                self._open(orgs, version, encoder, on_write)
        else:
            self._reconcile(orgs, encoder)

    def vectors(self, orgs: list[Organisation], encoder: Encoder) -> np.ndarray:
        """The vectors of ``orgs``, in order (a profile deleted meanwhile is put back for this read:
        the next data version removes it again)."""
        from matcher.indexing import upsert_profile

        with self.lock:
            for org in orgs:
                if org.id not in self.index:
                    upsert_profile(self.index, org, encoder, self.taxonomy)
            return self.index.vectors([o.id for o in orgs])

    def apply(self, event: str, org_id: str) -> None:
        """Apply one registry write to the index now."""
        if self._sync is not None:
            self._sync(event, org_id)

    def flush(self) -> None:
        """Save the index now if a write changed it since its last save."""
        if self._sync is not None:
            self._sync.flush()

    def close(self) -> None:
        """Stop following the registry and save what is unsaved."""
        if self._sync is not None:
            self._sync.close()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _open(self, orgs: list[Organisation], version: str, encoder: Encoder,
              on_write: Callable[[str, str], None]) -> None:
        from matcher.indexing import RegistrySync, ensure_index

        self.index = ensure_index(self.settings.index_dir, orgs, encoder, self.taxonomy, version,
                                  hnsw_threshold=self.settings.hnsw_threshold, progress=self.progress)
        self._sync = RegistrySync(self.index, self.registry.get, encoder, self.taxonomy,
                                  save_to=self.settings.index_dir, data_version=self.registry.data_version,
                                  save_delay=self.settings.index_save_delay_s, lock=self.lock)
        if self._unsubscribe is None:
            self._unsubscribe = self.registry.subscribe(on_write)

    def _reconcile(self, orgs: list[Organisation], encoder: Encoder) -> None:
        """Bring the in-memory index in line with profiles written by another process."""
        from matcher.indexing import remove_profile, upsert_profile

        wanted = {o.id for o in orgs}
        for org_id in [i for i in self.index.ids if i not in wanted]:
            with self.lock:
                remove_profile(self.index, org_id)
        for org in orgs:
            with self.lock:
                upsert_profile(self.index, org, encoder, self.taxonomy)
