"""The vector index a :class:`~matcher.ranking.Suggester` searches, kept in step with the registry.

On first use the saved index is checked against the registry's profiles (rebuilt or patched by
:func:`matcher.indexing.ensure_index`, with a log line); the registry's writes in this process
are then applied one profile at a time, and profiles written by another process are reconciled
when the data version moves. With background rebuilds a write is not applied at once: the next
rebuild reconciles the index (only the records that changed, their texts encoded in one batch),
and a background thread encodes each written profile ahead into the shared embedding cache.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import numpy as np

from matcher.embeddings import CachedEncoder, Encoder
from matcher.priority import lower_this_thread
from matcher.profiles import Organisation
from matcher.settings import Settings
from matcher.taxonomy import Taxonomy
from matcher.text import profile_text

log = logging.getLogger("c2c.index")

#: How long the encoding thread waits for more written profiles before encoding a batch (seconds).
ENCODE_GATHER_S = 0.25


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
        self._synced: dict[str, Organisation] = {}  # id -> the record the index entry was last made from
        self._queued: dict[str, None] = {}  # written profiles to encode ahead, in order
        self._encoding: threading.Thread | None = None
        self._queue_lock = threading.Lock()

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
            self._synced.pop(org_id, None)
            self._sync(event, org_id)

    def encode_soon(self, org_id: str, encoder: Encoder) -> None:
        """Have a written profile encoded now by a background thread, in one batch with the others
        written meanwhile, when ``encoder`` keeps its vectors in a disk cache: another process
        sharing the cache (a second server worker) then reads the vector instead of encoding
        it again, and the rebuild here finds it ready."""
        if not isinstance(encoder, CachedEncoder) or encoder.folder is None:
            return
        with self._queue_lock:
            self._queued[org_id] = None
            if self._encoding is None or not self._encoding.is_alive():
                self._encoding = threading.Thread(target=self._encode_queued, args=(encoder,), name="c2c-encode",
                                                  daemon=True)
                self._encoding.start()

    def _encode_queued(self, encoder: CachedEncoder) -> None:
        """Encode the queued profiles' texts, batch after batch, until the queue is empty.

        Each batch waits :data:`ENCODE_GATHER_S` for the writes that follow: under a stream of
        writes one batch of many texts costs far less than many batches of one (a database
        read, a cache file and a listing each)."""
        lower_this_thread()
        while True:
            time.sleep(ENCODE_GATHER_S)
            with self._queue_lock:
                ids, self._queued = list(self._queued), {}
                if not ids:
                    self._encoding = None
                    return
            try:
                orgs = self.registry.get_many(ids)
                encoder.encode([profile_text(org, self.taxonomy) for org in orgs])
            except Exception:  # the rebuild encodes whatever is missing
                log.exception("encoding written profiles ahead failed")

    def flush(self) -> None:
        """Save the index now if a write changed it since its last save."""
        if self._sync is not None:
            self._sync.flush()

    def close(self) -> None:
        """Stop following the registry (after the profiles queued for encoding) and save what is unsaved."""
        encoding = self._encoding
        if encoding is not None:
            encoding.join()
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
        self._synced = {o.id: o for o in orgs}
        if self._unsubscribe is None:
            self._unsubscribe = self.registry.subscribe(on_write)

    def _reconcile(self, orgs: list[Organisation], encoder: Encoder) -> None:
        """Bring the in-memory index in line with profiles written since it was last in step (by
        another process, or by this one with background rebuilds), and have it saved.

        A record that is the very object the index entry was last made from is skipped; the
        others' changed texts are encoded in one batch, outside the lock, so this process's
        writes are not held up meanwhile."""
        from matcher.indexing import remove_profile, upsert_profiles

        wanted = {o.id for o in orgs}
        removed = [i for i in self.index.ids if i not in wanted]
        for org_id in removed:
            with self.lock:
                remove_profile(self.index, org_id)
                self._synced.pop(org_id, None)
        stale = [o for o in orgs if self._synced.get(o.id) is not o or o.id not in self.index]
        if stale:
            upsert_profiles(self.index, stale, encoder, self.taxonomy, self.lock)
            self._synced.update((o.id, o) for o in stale)
        if (removed or stale) and self._sync is not None:
            self._sync.touched()
