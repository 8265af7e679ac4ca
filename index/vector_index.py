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

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from index.backends import BACKENDS, Backend, HNSWParams
from index.columns import Columns
from index.filters import ItemMeta, SearchFilters
from index.errors import DuplicateItem, UnknownItem, unavailable
from index.manifest import Manifest, read_manifest, recover_folder, write_folder

log = logging.getLogger("c2c.index")

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

    def _reset(self, kind: str, backend: Backend | None = None) -> None:
        self._backend = backend or BACKENDS[kind](self.dim, self.params)
        self._ids: list[str | None] = []
        self._pos: dict[str, int] = {}
        self._hashes: list[str | None] = []
        self._cols = Columns()
        self._dead = 0

    @property
    def kind(self) -> str:
        """``exact`` or ``hnsw``: the structure the vectors are searched in now."""
        return self._backend.kind

    # ----------------------------------------------------------------- inspection
    def __len__(self) -> int:
        return len(self._pos)

    @property
    def count(self) -> int:
        return len(self._pos)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._pos

    @property
    def ids(self) -> list[str]:
        """Live ids in row order."""
        with self._lock:
            return [i for i in self._ids if i is not None]

    def _row(self, item_id: str) -> int:
        try:
            return self._pos[item_id]
        except KeyError:
            raise UnknownItem(item_id) from None

    def vector(self, item_id: str) -> np.ndarray:
        with self._lock:
            return self._backend.storage()[self._row(item_id)].copy()

    def vectors(self, item_ids: Sequence[str] | None = None) -> np.ndarray:
        """Stored vectors of ``item_ids`` (default: every live id, in :attr:`ids` order)."""
        with self._lock:
            ids = self.ids if item_ids is None else list(item_ids)
            rows = np.array([self._row(i) for i in ids], dtype=np.int64)
            return self._backend.storage()[rows].copy() if len(rows) else np.zeros((0, self.dim), np.float32)

    def meta(self, item_id: str) -> ItemMeta:
        with self._lock:
            return self._cols.get(self._row(item_id))

    def content_hash(self, item_id: str) -> str | None:
        with self._lock:
            return self._hashes[self._row(item_id)]

    def content_hashes(self) -> dict[str, str | None]:
        with self._lock:
            return {i: h for i, h in zip(self._ids, self._hashes) if i is not None}

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
                if item_id in self._pos or item_id in seen:
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
            self._cols.reserve(rows)

    def _append_rows(self, ids: list[str], matrix: np.ndarray, metas: list[ItemMeta | None],
                     hashes: list[str | None], progress: bool = False) -> None:
        if len(ids) > _ADD_CHUNK:
            self.reserve(len(self._ids) + len(ids))
        starts = range(0, len(ids), _ADD_CHUNK)
        if progress and len(ids) > _ADD_CHUNK:
            starts = tqdm(starts, desc=f"building {self.kind} index", unit="chunk")
        for start in starts:
            self._backend.add(matrix[start:start + _ADD_CHUNK])
        first = len(self._ids)
        self._ids.extend(ids)
        self._hashes.extend(hashes)
        self._pos.update((item_id, first + i) for i, item_id in enumerate(ids))
        self._cols.append(metas)

    def update(self, item_id: str, vector: np.ndarray | None = None, meta: ItemMeta | None = None,
               content_hash: str | None = None) -> None:
        """Change an item's vector and/or metadata; raises :class:`UnknownItem` if absent."""
        with self._lock:
            row = self._row(item_id)
            if vector is not None:
                matrix = _as_matrix(vector, self.dim)
                new_hash = content_hash if content_hash is not None else self._hashes[row]
                new_meta = meta if meta is not None else self._cols.get(row)
                if self._backend.overwrites_in_place:
                    self._backend.storage()[row] = matrix[0]
                    self._cols.set(row, new_meta)
                    self._hashes[row] = new_hash
                else:
                    self._kill(row)
                    self._append_rows([item_id], matrix, [new_meta], [new_hash])
                    self._maybe_restructure()
                return
            if meta is not None:
                self._cols.set(row, meta)
            if content_hash is not None:
                self._hashes[row] = content_hash

    def upsert(self, item_id: str, vector: np.ndarray, meta: ItemMeta | None = None,
               content_hash: str | None = None) -> None:
        """Add the item, or replace its vector and metadata if it is already in."""
        with self._lock:
            if item_id in self._pos:
                self.update(item_id, vector, meta, content_hash)
            else:
                self.add(item_id, vector, meta, content_hash)

    def remove(self, item_id: str) -> None:
        """Remove an item; raises :class:`UnknownItem` if absent."""
        with self._lock:
            self._kill(self._row(item_id))
            self._maybe_restructure()

    def _kill(self, row: int) -> None:
        item_id = self._ids[row]
        if item_id is not None:
            del self._pos[item_id]
        self._ids[row] = None
        self._hashes[row] = None
        self._cols.alive[row] = False
        self._dead += 1

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
        rows = len(self._ids)
        too_dead = self._dead >= 64 and self._dead > DEAD_SHARE_LIMIT * rows
        if too_dead or self.wanted_kind() != self.kind:
            self.compact(self.wanted_kind())

    def compact(self, kind: str | None = None) -> None:
        """Rebuild the FAISS index from live rows only (optionally switching kind)."""
        with self._lock:
            live = np.flatnonzero(self._cols.alive[: self._cols.rows])
            matrix = self._backend.storage()[live].copy()
            ids = [self._ids[r] for r in live]
            hashes = [self._hashes[r] for r in live]
            columns = self._cols.select(live)
            self._reset(kind or self.kind)
            if len(ids):
                self._backend.add(matrix)
            self._ids = list(ids)
            self._hashes = hashes
            self._pos = {item_id: row for row, item_id in enumerate(ids)}
            self._cols = columns

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
            return [(self._ids[r], float(s)) for r, s in zip(rows, scores)]

    def search_many(self, vectors: np.ndarray, k: int = 10,
                    filters: SearchFilters | None = None) -> list[list[tuple[str, float]]]:
        """:meth:`search` for each row of ``vectors`` (one FAISS call when unfiltered)."""
        queries = _as_matrix(vectors, self.dim)
        with self._lock:
            if (filters is None or filters.is_empty) and self._dead == 0 and 0 < k <= self.count:
                scores, labels = self._backend.search_all(queries, int(k))
                if (labels >= 0).all():
                    return [[(self._ids[r], float(s)) for r, s in zip(lr, ls)] for lr, ls in zip(labels, scores)]
            return [self.search(q, k, filters) for q in queries]

    def _search_rows(self, query: np.ndarray, k: int, filters: SearchFilters | None) -> tuple[np.ndarray, np.ndarray]:
        if k <= 0 or self.count == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        mask = None
        allowed = self.count
        unfiltered = filters is None or filters.is_empty
        if not unfiltered or self._dead:
            mask = self._cols.mask(filters)
            if filters is not None:
                for item_id in filters.exclude_ids:
                    if item_id in self._pos:
                        mask[self._pos[item_id]] = False
            allowed = int(mask.sum())
            if allowed == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return self._backend.search(query, min(k, allowed), mask, allowed)

    # ----------------------------------------------------------------- persistence
    def _manifest(self) -> Manifest:
        params = {"requested_kind": self.requested_kind, "hnsw_threshold": self.hnsw_threshold, **asdict(self.params)}
        return Manifest(kind=self.kind, model_name=self.model_name, dim=self.dim, count=self.count,
                        params=params, data_version=self.data_version)

    def save(self, folder: str | Path, data_version: str | None = None) -> None:
        """Write the index to ``folder`` all-or-nothing (see :mod:`index.manifest`)."""
        with self._lock:
            if data_version is not None:
                self.data_version = data_version
            live = np.flatnonzero(self._cols.alive[: self._cols.rows])

            def write_files(tmp: Path) -> None:
                items = [{"id": self._ids[r], **self._cols.get(int(r)).to_dict(), "content_hash": self._hashes[r]}
                         for r in live]
                (tmp / "metadata.json").write_text(json.dumps({"items": items}, ensure_ascii=False), encoding="utf-8")
                self._backend.save(tmp, self._ids, live)

            manifest = self._manifest()
            write_folder(Path(folder), write_files, manifest)
            self.manifest = manifest

    @classmethod
    def load(cls, folder: str | Path) -> "VectorIndex":
        """Read an index folder written by :meth:`save`, verifying every checksum.

        Raises :class:`~index.errors.IndexUnavailable` (with ``.reason``) when the folder is
        missing, incomplete, corrupt or inconsistent.
        """
        folder = Path(folder)
        if recover_folder(folder):
            log.warning("restored index %s from the backup left by an interrupted save", folder)
        manifest = read_manifest(folder, required=_required_files)
        try:
            return cls._from_files(folder, manifest)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise unavailable(folder, f"unreadable contents ({exc})") from None

    @classmethod
    def _from_files(cls, folder: Path, manifest: Manifest) -> "VectorIndex":
        params = dict(manifest.params)
        hnsw = HNSWParams(**{k: int(params[k]) for k in ("m", "ef_construction", "ef_search") if k in params})
        index = cls(manifest.dim, manifest.model_name, kind=str(params.get("requested_kind", manifest.kind)),
                    hnsw_threshold=int(params.get("hnsw_threshold", 50_000)), params=hnsw,
                    data_version=manifest.data_version)
        index.manifest = manifest
        ids_array = np.load(folder / "ids.npy", allow_pickle=False)
        if ids_array.dtype.kind != "U" or ids_array.ndim != 1:
            raise ValueError("ids.npy is not a 1-d array of strings")
        raw_items = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))["items"]
        items = {str(item["id"]): item for item in raw_items}
        row_ids: list[str | None] = [str(i) or None for i in ids_array]
        live_ids = [i for i in row_ids if i is not None]
        if len(live_ids) != manifest.count or set(live_ids) != set(items) or len(set(live_ids)) != len(live_ids):
            raise ValueError("ids, metadata and manifest count disagree")
        index._reset(manifest.kind, BACKENDS[manifest.kind].load(folder, manifest.dim, hnsw, len(row_ids)))
        metas = [ItemMeta.from_dict(items[i]) if i is not None else None for i in row_ids]
        index._ids = row_ids
        index._hashes = [items[i].get("content_hash") if i is not None else None for i in row_ids]
        index._pos = {i: row for row, i in enumerate(row_ids) if i is not None}
        index._cols.append(metas)
        for row, item_id in enumerate(row_ids):
            if item_id is None:
                index._cols.alive[row] = False
                index._dead += 1
        return index


def _required_files(manifest: Manifest) -> list[str]:
    return ["ids.npy", "metadata.json", *BACKENDS[manifest.kind].files]

