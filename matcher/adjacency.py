"""The cooperation graph between the two sides as a sparse boolean (n_eu, n_mx) matrix.

Only the documented pairs are stored (CSR for European rows, CSC for Mexican columns), so
memory and every lookup grow with the number of cooperations and the rows asked about, not
with n_eu x n_mx.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from matcher.profiles import Side


class Adjacency:
    """Documented (EU row, MX row) pairs, each stored once; every other pair is absent."""

    def __init__(self, eu_rows: np.ndarray, mx_rows: np.ndarray, shape: tuple[int, int]):
        n_eu, n_mx = int(shape[0]), int(shape[1])
        self.shape = (n_eu, n_mx)
        self._width = max(n_mx, 1)
        keys = np.unique(np.asarray(eu_rows, dtype=np.int64) * self._width + np.asarray(mx_rows, dtype=np.int64))
        self._keys = keys  # sorted: row-major order of the pairs
        eu, mx = keys // self._width, keys % self._width
        data = np.ones(len(keys), dtype=bool)
        self.csr = sparse.csr_matrix((data, (eu, mx)), shape=self.shape)
        self.csc = self.csr.tocsc()
        self.csr.sort_indices()
        self.csc.sort_indices()
        self.edges: tuple[np.ndarray, np.ndarray] = (eu.astype(np.intp), mx.astype(np.intp))
        self.eu_degree = np.diff(self.csr.indptr).astype(np.int64)
        self.mx_degree = np.diff(self.csc.indptr).astype(np.int64)

    @classmethod
    def from_dense(cls, matrix: np.ndarray) -> "Adjacency":
        """The documented pairs of a dense boolean matrix."""
        matrix = np.asarray(matrix, dtype=bool)
        eu, mx = np.nonzero(matrix)
        return cls(eu, mx, matrix.shape)

    @property
    def nnz(self) -> int:
        """Number of documented pairs."""
        return len(self._keys)

    def any(self) -> bool:
        """Whether any pair is documented."""
        return self.nnz > 0

    def degree(self, side: Side) -> np.ndarray:
        """Documented pairs of every organisation of ``side``."""
        return self.eu_degree if side is Side.EU else self.mx_degree

    def partners(self, side: Side, row: int) -> np.ndarray:
        """Counterpart rows documented with organisation ``row`` of ``side``, ascending."""
        m = self.csr if side is Side.EU else self.csc
        return m.indices[m.indptr[row]:m.indptr[row + 1]].astype(np.intp)

    def partner_lists(self, side: Side, rows: np.ndarray) -> list[np.ndarray]:
        """:meth:`partners` of each of ``rows`` (organisations without any share one empty array)."""
        empty = np.zeros(0, dtype=np.intp)
        degree = self.degree(side)[rows].tolist()
        return [self.partners(side, r) if d else empty for r, d in zip(np.asarray(rows).tolist(), degree)]

    def known(self, side: Side, row: int) -> np.ndarray:
        """(n_counterpart,) booleans: which counterpart rows are documented with ``row`` of ``side``."""
        out = np.zeros(self.shape[1] if side is Side.EU else self.shape[0], dtype=bool)
        out[self.partners(side, row)] = True
        return out

    def contains(self, eu_rows: np.ndarray | int, mx_rows: np.ndarray | int) -> np.ndarray:
        """Whether each (eu_rows, mx_rows) pair (broadcast) is documented."""
        keys = np.asarray(eu_rows, dtype=np.int64) * self._width + np.asarray(mx_rows, dtype=np.int64)
        if not self.nnz:
            return np.zeros(keys.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(self._keys, keys), self.nnz - 1)
        return self._keys[pos] == keys

    def __getitem__(self, pair: tuple) -> np.ndarray | bool:
        """``adjacency[e, m]`` for one pair (a bool) or aligned arrays of pairs (a bool array)."""
        e, m = pair
        found = self.contains(e, m)
        return bool(found) if found.ndim == 0 else found

    def block(self, eu_rows: np.ndarray, mx_rows: np.ndarray) -> np.ndarray:
        """(len(eu_rows), len(mx_rows)) booleans of the pairs between the given rows."""
        eu_rows, mx_rows = np.asarray(eu_rows, dtype=np.intp), np.asarray(mx_rows, dtype=np.intp)
        if not self.nnz or not len(eu_rows) or not len(mx_rows):
            return np.zeros((len(eu_rows), len(mx_rows)), dtype=bool)
        touched = self.eu_degree[eu_rows] > 0
        if not touched.any():
            return np.zeros((len(eu_rows), len(mx_rows)), dtype=bool)
        if touched.all():
            return self.contains(eu_rows[:, None], mx_rows[None, :])
        out = np.zeros((len(eu_rows), len(mx_rows)), dtype=bool)
        out[touched] = self.contains(eu_rows[touched][:, None], mx_rows[None, :])
        return out

    def toarray(self) -> np.ndarray:
        """The dense (n_eu, n_mx) boolean matrix (for small registries and tests)."""
        out = np.zeros(self.shape, dtype=bool)
        out[self.edges] = True
        return out
