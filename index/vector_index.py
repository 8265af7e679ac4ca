"""Nearest-neighbour search over item vectors, with metadata filters.

:class:`VectorIndex` keeps unit vectors in a FAISS structure and answers inner-product
(cosine) queries. Small collections use exact search; above ``hnsw_threshold`` items (or when
forced) an HNSW graph (:mod:`index.backends`). FAISS labels are row numbers; string ids map to
rows. Removing an item marks its row dead (HNSW graphs cannot delete); rows are compacted when
many are dead.

Filters (:class:`~index.filters.SearchFilters`) become a row mask. Exact search passes the
mask to FAISS as an ID selector, so all rows are scored and k results come back whenever k
items pass. HNSW search uses the same selector and widens ``efSearch`` until k pass, falling
back to exact scoring of the passing rows when they are few.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from index.backends import BACKENDS, Backend, HNSWParams
from index import folder as index_folder
from index.errors import DuplicateItem
from index.filters import ItemMeta, SearchFilters
from index.items import Items
from index.manifest import Manifest

KIND_CHOICES = ("auto", *BACKENDS)
#: Compact (rebuild) once dead rows exceed this share of all rows (and at least 64 rows).
DEAD_SHARE_LIMIT = 0.25
_ADD_CHUNK = 20_000


def _as_matrix(vectors: Any, dim: int) -> np.ndarray:
    matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"vectors must have shape (n, {dim}), got {np.shape(vectors)}")
    if not np.isfinite(matrix).all():
        raise ValueError("vectors contain NaN or infinite values")
    return matrix


class VectorIndex:
    """Searchable set of (id, unit vector, metadata, content hash) items."""

    def __init__(self, dim: int, model_name: str, *, kind: str = "auto", hnsw_threshold: int = 50_000,
                 params: HNSWParams | None = None, data_version: str = ""):
        if kind not in KIND_CHOICES:
            raise ValueError(f"kind must be one of {KIND_CHOICES}, got {kind!r}")
        if dim < 1:
            raise ValueError("dimension must be positive")
        self.dim = int(dim)
        self.model_name = model_name
        self.requested_kind = kind
        self.hnsw_threshold = int(hnsw_threshold)
        self.params = params or HNSWParams()
        self.data_version = data_version
        self.manifest: Manifest | None = None
        self._lock = threading.RLock()
        self._reset("hnsw" if kind == "hnsw" else "exact")

    # ----------------------------------------------------------------- construction
    @classmethod
    def build(cls, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[ItemMeta | None] | None = None,
              *, model_name: str, content_hashes: Sequence[str | None] | None = None, kind: str = "auto",
              hnsw_threshold: int = 50_000, params: HNSWParams | None = None, data_version: str = "",
              progress: bool = False) -> "VectorIndex":
        """An index over ``ids`` and their ``vectors`` (rows in the same order)."""
        matrix = np.asarray(vectors, dtype=np.float32)
        dim = matrix.shape[1] if matrix.ndim == 2 else 0
        index = cls(dim, model_name, kind=kind, hnsw_threshold=hnsw_threshold, params=params,
                    data_version=data_version)
        if kind == "auto" and len(ids) > hnsw_threshold:
            index._reset("hnsw")
        index.add_many(ids, matrix, metadata, content_hashes, progress=progress)
        return index

    def _reset(self, kind: str, backend: Backend | None = None, items: Items | None = None) -> None:
        self._backend = backend or BACKENDS[kind](self.dim, self.params)
        self._items = items or Items()

    @property
    def kind(self) -> str:
        """``exact`` or ``hnsw``: the structure the vectors are searched in now."""
        return self._backend.kind

    # ----------------------------------------------------------------- inspection
    def __len__(self) -> int:
        return len(self._items)

    @property
    def count(self) -> int:
        return len(self._items)

    @property
    def dead_rows(self) -> int:
        """Rows of removed items still held (until the next compaction)."""
        return self._items.dead

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    @property
    def ids(self) -> list[str]:
        """Live ids in row order."""
        with self._lock:
            return self._items.live_ids()

    def vector(self, item_id: str) -> np.ndarray:
        with self._lock:
            return self._backend.storage()[self._items.row(item_id)].copy()

    def vectors(self, item_ids: Sequence[str] | None = None) -> np.ndarray:
        """Stored vectors of ``item_ids`` (default: every live id, in :attr:`ids` order)."""
        with self._lock:
            ids = self.ids if item_ids is None else list(item_ids)
            rows = np.array([self._items.row(i) for i in ids], dtype=np.int64)
            return self._backend.storage()[rows].copy() if len(rows) else np.zeros((0, self.dim), np.float32)

    def meta(self, item_id: str) -> ItemMeta:
        with self._lock:
            return self._items.meta(self._items.row(item_id))

    def content_hash(self, item_id: str) -> str | None:
        with self._lock:
            return self._items.content_hash(self._items.row(item_id))

    def content_hashes(self) -> dict[str, str | None]:
        with self._lock:
            return self._items.content_hashes()

    def memory_bytes(self) -> int:
        """Approximate bytes held by the FAISS index (vectors plus graph links)."""
        with self._lock:
            return self._backend.memory_bytes()

    # ----------------------------------------------------------------- mutation
    def add(self, item_id: str, vector: np.ndarray, meta: ItemMeta | None = None,
            content_hash: str | None = None) -> None:
        """Add one item; raises :class:`DuplicateItem` if the id is already in."""
        self.add_many([item_id], vector, [meta], [content_hash])

    def add_many(self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[ItemMeta | None] | None = None,
                 content_hashes: Sequence[str | None] | None = None, progress: bool = False) -> None:
        """Add several items at once (all or none)."""
        ids = list(ids)
        matrix = _as_matrix(vectors, self.dim) if len(ids) else np.zeros((0, self.dim), np.float32)
        metas = list(metadata) if metadata is not None else [None] * len(ids)
        hashes = list(content_hashes) if content_hashes is not None else [None] * len(ids)
        if not (len(matrix) == len(ids) == len(metas) == len(hashes)):
            raise ValueError("ids, vectors, metadata and content hashes differ in length")
        for item_id in ids:
            if not isinstance(item_id, str) or not item_id:
                raise ValueError(f"ids must be non-empty strings, got {item_id!r}")
        with self._lock:
            seen: set[str] = set()
            for item_id in ids:
                if item_id in self._items or item_id in seen:
                    raise DuplicateItem(f"{item_id!r} is already in the vector index")
                seen.add(item_id)
            self._append_rows(ids, matrix, metas, hashes, progress)
            self._maybe_restructure()

    def reserve(self, rows: int) -> None:
        """Pre-allocate room for ``rows`` items in total.

        Filling a large index in chunks otherwise grows FAISS's buffers by doubling, and each
        growth briefly holds the old and the new buffer: up to twice the vectors' memory.
        """
        with self._lock:
            self._backend.reserve(rows)
            self._items.reserve(rows)

    def _append_rows(self, ids: list[str], matrix: np.ndarray, metas: list[ItemMeta | None],
                     hashes: list[str | None], progress: bool = False) -> None:
        if len(ids) > _ADD_CHUNK:
            self.reserve(self._items.rows + len(ids))
        starts = range(0, len(ids), _ADD_CHUNK)
        if progress and len(ids) > _ADD_CHUNK:
            starts = tqdm(starts, desc=f"building {self.kind} index", unit="chunk")
        for start in starts:
            self._backend.add(matrix[start:start + _ADD_CHUNK])
        self._items.append(ids, metas, hashes)

    def update(self, item_id: str, vector: np.ndarray | None = None, meta: ItemMeta | None = None,
               content_hash: str | None = None) -> None:
        """Change an item's vector and/or metadata; raises :class:`UnknownItem` if absent."""
        with self._lock:
            row = self._items.row(item_id)
            if vector is None or self._backend.overwrites_in_place:
                if vector is not None:
                    self._backend.storage()[row] = _as_matrix(vector, self.dim)[0]
                self._items.set(row, meta, content_hash)
                return
            matrix = _as_matrix(vector, self.dim)
            new_hash = content_hash if content_hash is not None else self._items.content_hash(row)
            new_meta = meta if meta is not None else self._items.meta(row)
            self._items.kill(row)
            self._append_rows([item_id], matrix, [new_meta], [new_hash])
            self._maybe_restructure()

    def upsert(self, item_id: str, vector: np.ndarray, meta: ItemMeta | None = None,
               content_hash: str | None = None) -> None:
        """Add the item, or replace its vector and metadata if it is already in."""
        with self._lock:
            if item_id in self._items:
                self.update(item_id, vector, meta, content_hash)
            else:
                self.add(item_id, vector, meta, content_hash)

    def remove(self, item_id: str) -> None:
        """Remove an item; raises :class:`UnknownItem` if absent."""
        with self._lock:
            self._items.kill(self._items.row(item_id))
            self._maybe_restructure()

    def wanted_kind(self) -> str:
        """The kind this index should have now: HNSW above the threshold when ``auto``.

        An automatic HNSW index returns to exact search only below half the threshold, so a
        collection hovering around the threshold is not rebuilt on every change.
        """
        if self.requested_kind != "auto":
            return self.requested_kind
        if self.kind == "hnsw":
            return "exact" if self.count < self.hnsw_threshold // 2 else "hnsw"
        return "hnsw" if self.count > self.hnsw_threshold else "exact"

    def _maybe_restructure(self) -> None:
        dead = self._items.dead
        too_dead = dead >= 64 and dead > DEAD_SHARE_LIMIT * self._items.rows
        if too_dead or self.wanted_kind() != self.kind:
            self.compact(self.wanted_kind())

    def compact(self, kind: str | None = None) -> None:
        """Rebuild the FAISS index from live rows only (optionally switching kind)."""
        with self._lock:
            live = self._items.live_rows()
            matrix = self._backend.storage()[live].copy()
            self._reset(kind or self.kind, items=self._items.select(live))
            if len(live):
                self._backend.add(matrix)

    def set_ef_search(self, ef_search: int) -> None:
        """Change the HNSW search beam width (no effect on exact search)."""
        self.params = replace(self.params, ef_search=int(ef_search))
        self._backend.set_ef_search(int(ef_search))

    # ----------------------------------------------------------------- search
    def search(self, vector: np.ndarray, k: int = 10, filters: SearchFilters | None = None) -> list[tuple[str, float]]:
        """The ``k`` items with the highest inner product with ``vector`` that pass ``filters``.

        Returns ``(id, score)`` pairs, best first; fewer than ``k`` only when fewer items pass.
        """
        query = _as_matrix(vector, self.dim)
        if len(query) != 1:
            raise ValueError("search takes one vector; use search_many for several")
        with self._lock:
            rows, scores = self._search_rows(query, int(k), filters)
            return [(self._items.row_ids[r], float(s)) for r, s in zip(rows, scores)]

    def search_many(self, vectors: np.ndarray, k: int = 10,
                    filters: SearchFilters | None = None) -> list[list[tuple[str, float]]]:
        """:meth:`search` for each row of ``vectors`` (one FAISS call when unfiltered)."""
        queries = _as_matrix(vectors, self.dim)
        with self._lock:
            if (filters is None or filters.is_empty) and self._items.dead == 0 and 0 < k <= self.count:
                scores, labels = self._backend.search_all(queries, int(k))
                if (labels >= 0).all():
                    ids = self._items.row_ids
                    return [[(ids[r], float(s)) for r, s in zip(lr, ls)] for lr, ls in zip(labels, scores)]
            return [self.search(q, k, filters) for q in queries]

    def _search_rows(self, query: np.ndarray, k: int, filters: SearchFilters | None) -> tuple[np.ndarray, np.ndarray]:
        if k <= 0 or self.count == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        mask = None
        allowed = self.count
        unfiltered = filters is None or filters.is_empty
        if not unfiltered or self._items.dead:
            mask = self._items.mask(filters)
            allowed = int(mask.sum())
            if allowed == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return self._backend.search(query, min(k, allowed), mask, allowed)

    # ----------------------------------------------------------------- persistence
    def save(self, folder: str | Path, data_version: str | None = None) -> None:
        """Write the index to ``folder`` all-or-nothing (see :mod:`index.folder`)."""
        with self._lock:
            if data_version is not None:
                self.data_version = data_version
            self.manifest = index_folder.save(folder, self._manifest(), self._items, self._backend)

    @classmethod
    def load(cls, folder: str | Path) -> "VectorIndex":
        """Read an index folder written by :meth:`save`, verifying every checksum.

        Raises :class:`~index.errors.IndexUnavailable` (with ``.reason``) when the folder is
        missing, incomplete, corrupt or inconsistent.
        """
        manifest, backend, items = index_folder.load(folder)
        params = dict(manifest.params)
        index = cls(manifest.dim, manifest.model_name, kind=str(params.get("requested_kind", manifest.kind)),
                    hnsw_threshold=int(params.get("hnsw_threshold", 50_000)), params=backend.params,
                    data_version=manifest.data_version)
        index.manifest = manifest
        index._reset(manifest.kind, backend, items)
        return index

    def _manifest(self) -> Manifest:
        params = {"requested_kind": self.requested_kind, "hnsw_threshold": self.hnsw_threshold, **asdict(self.params)}
        return Manifest(kind=self.kind, model_name=self.model_name, dim=self.dim, count=self.count,
                        params=params, data_version=self.data_version)
