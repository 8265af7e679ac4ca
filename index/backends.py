"""The two FAISS structures a :class:`~index.vector_index.VectorIndex` can sit on.

Both keep the vectors in rows (FAISS labels are row numbers) and answer inner-product
queries; they differ in how they search and what they write to disk:

- :class:`ExactBackend` (``IndexFlatIP``) scores every row; a row's vector can be
  overwritten in place, and it saves the live rows as ``vectors.npy``.
- :class:`HNSWBackend` (``IndexHNSWFlat``) searches a graph, widening ``efSearch`` until k
  rows pass a filter and scoring the passing rows exactly when they are few; a graph node
  cannot be changed or deleted, and it saves the whole graph as ``index.faiss``.

The index above them owns ids, metadata, dead rows and the folder (manifest, atomic save).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import faiss
import numpy as np

#: A filtered HNSW query scores the passing rows exactly when there are at most this many and
#: ``passing**2 <= EXACT_COST_RATIO * efSearch * rows`` (exact cost grows with the passing rows,
#: the graph's cost with how rare they are); otherwise it searches the graph with a selector.
EXACT_FALLBACK_ROWS = 50_000
EXACT_COST_RATIO = 40
#: A filtered graph search widens ``efSearch`` up to this before scoring the passing rows exactly.
MAX_EF_SEARCH = 4096

Rows = tuple[np.ndarray, np.ndarray]  # (row numbers, scores), best first


@dataclass(frozen=True)
class HNSWParams:
    """HNSW graph parameters: ``m`` links per node, build and search beam widths."""

    m: int = 16
    ef_construction: int = 64
    ef_search: int = 128

    def __post_init__(self) -> None:
        if min(self.m, self.ef_construction, self.ef_search) < 1:
            raise ValueError("HNSW parameters must be positive integers")


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write one array without pickling (ids as unicode, vectors as float32)."""
    with open(path, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def _reserve(buffer: Any, size: int) -> None:
    """Grow a FAISS vector's capacity to ``size`` elements without changing its length."""
    current = buffer.size()
    if size > current:
        buffer.resize(size)
        buffer.resize(current)


class Backend(ABC):
    """Vectors in rows, searched by inner product."""

    kind: ClassVar[str]
    #: The data files :meth:`save` writes besides ``ids.npy``.
    files: ClassVar[tuple[str, ...]]
    #: Whether a row's vector can be overwritten (else the row is retired and the item re-added).
    overwrites_in_place: ClassVar[bool]

    def __init__(self, dim: int, params: HNSWParams, structure: faiss.Index | None = None):
        self.dim = dim
        self.params = params
        self.faiss = structure if structure is not None else self._new()

    @abstractmethod
    def _new(self) -> faiss.Index: ...

    @abstractmethod
    def flat(self) -> faiss.IndexFlat:
        """The flat storage of the vectors."""

    @property
    def rows(self) -> int:
        return int(self.faiss.ntotal)

    def storage(self) -> np.ndarray:
        """Zero-copy (rows, dim) view of the stored vectors; valid until the next add."""
        n = self.rows
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return faiss.rev_swig_ptr(self.flat().get_xb(), n * self.dim).reshape(n, self.dim)

    def add(self, matrix: np.ndarray) -> None:
        self.faiss.add(matrix)

    def reserve(self, rows: int) -> None:
        """Room for ``rows`` rows without growing buffers by doubling."""
        flat = self.flat()
        _reserve(flat.codes, rows * flat.code_size)

    def memory_bytes(self) -> int:
        return self.rows * self.dim * 4

    def set_ef_search(self, ef_search: int) -> None:
        """Change the search beam width (exact search has none)."""

    def search_params(self, bitmap: np.ndarray | None, ef: int) -> faiss.SearchParameters:
        """FAISS search parameters, restricted to the rows set in ``bitmap`` when given."""
        params = self._params(ef)
        if bitmap is not None:
            selector = faiss.IDSelectorBitmap(self.rows, faiss.swig_ptr(bitmap))
            params.sel = selector
            params._keep = (selector, bitmap)
        return params

    def _params(self, ef: int) -> faiss.SearchParameters:
        return faiss.SearchParameters()

    def search_all(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and rows of the k best rows for each query, every row allowed."""
        return self.faiss.search(queries, k, params=self.search_params(None, k))

    @abstractmethod
    def search(self, query: np.ndarray, k: int, mask: np.ndarray | None, allowed: int) -> Rows:
        """The k best rows for one query among those set in ``mask`` (``allowed`` of them)."""

    def exact(self, query: np.ndarray, k: int, mask: np.ndarray | None) -> Rows:
        """Score every stored row (only rows set in ``mask`` when given) and keep the top k.

        Masked rows are scored in place by FAISS (no gather copy); ties go to the lower row.
        """
        flat = self.flat()
        if mask is None:
            scores, labels = flat.search(query, k)
            found = labels[0] >= 0
            return labels[0][found], scores[0][found]
        rows = np.flatnonzero(mask).astype(np.int64)
        scores = np.empty(len(rows), dtype=np.float32)
        faiss.fvec_inner_products_by_idx(faiss.swig_ptr(scores), faiss.swig_ptr(query), flat.get_xb(),
                                         faiss.swig_ptr(rows), self.dim, 1, len(rows))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(rows) else np.arange(len(rows))
        order = np.lexsort((rows[top], -scores[top]))
        return rows[top][order], scores[top][order]

    @abstractmethod
    def save(self, folder: Path, row_ids: list[str | None], live: np.ndarray) -> None:
        """Write ``ids.npy`` and :attr:`files` into ``folder``."""

    @classmethod
    @abstractmethod
    def load(cls, folder: Path, dim: int, params: HNSWParams, rows: int) -> "Backend":
        """Read what :meth:`save` wrote for ``rows`` rows; ValueError when it does not fit."""


class ExactBackend(Backend):
    kind = "exact"
    files = ("vectors.npy",)
    overwrites_in_place = True

    def _new(self) -> faiss.Index:
        return faiss.IndexFlatIP(self.dim)

    def flat(self) -> faiss.IndexFlat:
        return self.faiss

    def search(self, query: np.ndarray, k: int, mask: np.ndarray | None, allowed: int) -> Rows:
        return self.exact(query, k, mask)

    def save(self, folder: Path, row_ids: list[str | None], live: np.ndarray) -> None:
        save_npy(folder / "ids.npy", np.array([row_ids[r] for r in live], dtype=np.str_))
        save_npy(folder / "vectors.npy", np.ascontiguousarray(self.storage()[live]))

    @classmethod
    def load(cls, folder: Path, dim: int, params: HNSWParams, rows: int) -> "ExactBackend":
        matrix = np.load(folder / "vectors.npy", allow_pickle=False)
        if matrix.dtype != np.float32 or matrix.shape != (rows, dim):
            raise ValueError(f"vectors.npy has shape {matrix.shape} and dtype {matrix.dtype}")
        backend = cls(dim, params)
        backend.add(np.ascontiguousarray(matrix))
        return backend


class HNSWBackend(Backend):
    kind = "hnsw"
    files = ("index.faiss",)
    overwrites_in_place = False

    def _new(self) -> faiss.Index:
        graph = faiss.IndexHNSWFlat(self.dim, self.params.m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self.params.ef_construction
        graph.hnsw.efSearch = self.params.ef_search
        return graph

    def flat(self) -> faiss.IndexFlat:
        return faiss.downcast_index(self.faiss.storage)

    def reserve(self, rows: int) -> None:
        super().reserve(rows)
        _reserve(self.faiss.hnsw.neighbors, rows * (2 * self.params.m + 2))

    def memory_bytes(self) -> int:
        hnsw = self.faiss.hnsw
        return super().memory_bytes() + hnsw.neighbors.size() * 4 + hnsw.offsets.size() * 8 + hnsw.levels.size() * 4

    def set_ef_search(self, ef_search: int) -> None:
        self.params = HNSWParams(self.params.m, self.params.ef_construction, int(ef_search))
        self.faiss.hnsw.efSearch = int(ef_search)

    def _params(self, ef: int) -> faiss.SearchParameters:
        return faiss.SearchParametersHNSW(efSearch=max(ef, self.params.ef_search))

    def search(self, query: np.ndarray, k: int, mask: np.ndarray | None, allowed: int) -> Rows:
        if mask is not None and self._prefer_exact(allowed):
            return self.exact(query, k, mask)
        bitmap = np.packbits(mask, bitorder="little") if mask is not None else None
        ef = self.params.ef_search
        while ef < MAX_EF_SEARCH:
            scores, labels = self.faiss.search(query, k, params=self.search_params(bitmap, max(ef, k)))
            found = labels[0] >= 0
            if found.sum() >= k:
                return labels[0][found], scores[0][found]
            ef *= 4
        return self.exact(query, k, mask)

    def _prefer_exact(self, allowed: int) -> bool:
        ef = self.params.ef_search
        return allowed <= EXACT_FALLBACK_ROWS and allowed * allowed <= EXACT_COST_RATIO * ef * self.rows

    def save(self, folder: Path, row_ids: list[str | None], live: np.ndarray) -> None:
        save_npy(folder / "ids.npy", np.array([i or "" for i in row_ids], dtype=np.str_))
        faiss.write_index(self.faiss, str(folder / "index.faiss"))

    @classmethod
    def load(cls, folder: Path, dim: int, params: HNSWParams, rows: int) -> "HNSWBackend":
        graph = faiss.read_index(str(folder / "index.faiss"))
        if not isinstance(graph, faiss.IndexHNSWFlat) or graph.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError("index.faiss is not an inner-product HNSW index")
        if graph.d != dim or graph.ntotal != rows:
            raise ValueError("index.faiss dimension or size disagrees with the manifest")
        graph.hnsw.efSearch = params.ef_search
        return cls(dim, params, graph)


BACKENDS: dict[str, type[Backend]] = {b.kind: b for b in (ExactBackend, HNSWBackend)}
