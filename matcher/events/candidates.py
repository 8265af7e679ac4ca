"""Sparse candidate pairs: each participant's best-scored counterparts, found block by block.

The planner never holds an ``n × n`` score matrix. Scores come in row blocks of bounded size
(from a scorer, a dense matrix or a sparse one); in each block only the pairs that may meet are
kept (other side unless same-side meetings are on, a score above ``min_score``, room in both
agendas, a common free slot, not excluded), and of those each participant's ``k`` best. The
candidate set is the union over participants, so a pair is a candidate when it is among the
``k`` best of either side. ``k = None`` keeps every allowed pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import scipy.sparse as sp

from matcher.errors import EventError, InvalidProfile
from matcher.events.scoring import PairScorer, sector_scorer
from matcher.profiles import Organisation, Side

BLOCK_PAIRS = 4_000_000
Scores = np.ndarray | sp.spmatrix | sp.sparray | PairScorer


@dataclass(frozen=True)
class Block:
    """Symmetric, clipped pair scores ``values[r, c]`` of participants ``rows[r]`` and ``cols[c]``."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    same_group: bool


@dataclass(frozen=True)
class Edges:
    """Pairs ``(lo[e], hi[e])`` with ``lo < hi`` and their scores, ordered by ``lo * n + hi``."""

    lo: np.ndarray
    hi: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.lo)


def _sides(orgs: Sequence[Organisation]) -> tuple[np.ndarray, np.ndarray]:
    eu = np.array([k for k, o in enumerate(orgs) if o.side is Side.EU], dtype=np.int64)
    mx = np.array([k for k, o in enumerate(orgs) if o.side is Side.MX], dtype=np.int64)
    return eu, mx


def _chunks(rows: np.ndarray, width: int, block_pairs: int) -> Iterator[np.ndarray]:
    step = max(1, block_pairs // max(width, 1))
    for start in range(0, len(rows), step):
        yield rows[start:start + step]


def _finite(values: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise EventError("scores: the matrix holds NaN or infinite values")
    return np.clip(values, 0.0, 1.0)


def score_blocks(
    orgs: Sequence[Organisation],
    scores: np.ndarray | PairScorer,
    *,
    same_side: bool = False,
    block_pairs: int = BLOCK_PAIRS,
) -> Iterator[Block]:
    """Row blocks covering every EU–MX pair (and same-side pairs with ``same_side``), each at most
    about ``block_pairs`` pairs, with the values of :func:`matcher.events.scoring.score_matrix`."""
    eu, mx = _sides(orgs)
    groups = [(eu, mx, False)] + ([(eu, eu, True), (mx, mx, True)] if same_side else [])
    if callable(scores):
        for rows_all, cols, same in groups:
            if not len(rows_all) or not len(cols):
                continue
            right = [orgs[j] for j in cols]
            for rows in _chunks(rows_all, len(cols), block_pairs):
                left = [orgs[i] for i in rows]
                block = _call(scores, left, right, same)
                if same:
                    block = (block + _call(scores, right, left, same).T) / 2
                block = _finite(block)
                if same:
                    block[rows[:, None] == cols[None, :]] = 0.0
                yield Block(rows, cols, block, same)
        return
    matrix = np.asarray(scores, dtype=np.float64)
    n = len(orgs)
    if matrix.shape == (n, n):
        if not np.all(np.isfinite(matrix)):
            raise EventError("scores: the matrix holds NaN or infinite values")
        for rows_all, cols, same in groups:
            for rows in _chunks(rows_all, len(cols), block_pairs):
                block = _finite((matrix[np.ix_(rows, cols)] + matrix[np.ix_(cols, rows)].T) / 2)
                if same:
                    block[rows[:, None] == cols[None, :]] = 0.0
                yield Block(rows, cols, block, same)
    elif matrix.shape == (len(eu), len(mx)):
        if not np.all(np.isfinite(matrix)):
            raise EventError("scores: the matrix holds NaN or infinite values")
        for start, rows in _enumerate_chunks(eu, len(mx), block_pairs):
            yield Block(rows, mx, np.clip(matrix[start:start + len(rows)], 0.0, 1.0), False)
        for rows_all, cols, same in groups[1:]:
            for rows in _chunks(rows_all, len(cols), block_pairs):
                yield Block(rows, cols, np.zeros((len(rows), len(cols))), same)
    else:
        raise EventError(f"scores: shape {matrix.shape} fits neither ({n}, {n}) nor ({len(eu)}, {len(mx)})")


def _enumerate_chunks(rows: np.ndarray, width: int, block_pairs: int) -> Iterator[tuple[int, np.ndarray]]:
    start = 0
    for chunk in _chunks(rows, width, block_pairs):
        yield start, chunk
        start += len(chunk)


def _call(scorer: PairScorer, left: list[Organisation], right: list[Organisation], same: bool) -> np.ndarray:
    try:
        block = np.asarray(scorer(left, right), dtype=np.float64)
    except InvalidProfile:
        if not same:
            raise
        block = sector_scorer(left, right)  # a cross-border-only scorer: same-side pairs by sector overlap
    if block.shape != (len(left), len(right)):
        raise EventError(f"scorer returned shape {block.shape}, expected {(len(left), len(right))}")
    return block


def sparse_pairs(orgs: Sequence[Organisation], matrix: sp.spmatrix | sp.sparray, *, same_side: bool = False) -> Edges:
    """The stored entries of a sparse ``(n, n)`` or ``(n_eu, n_mx)`` score matrix as pairs.

    A pair stored in one direction scores that value, one stored in both the mean of the two; a
    pair not stored is not a candidate. Same-side pairs are kept only with ``same_side``.
    """
    n = len(orgs)
    eu, mx = _sides(orgs)
    coo = sp.coo_matrix(matrix)
    rows, cols, values = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(np.float64)
    if coo.shape == (n, n):
        pass
    elif coo.shape == (len(eu), len(mx)):
        rows, cols = eu[rows], mx[cols]
    else:
        raise EventError(f"scores: shape {coo.shape} fits neither ({n}, {n}) nor ({len(eu)}, {len(mx)})")
    if not np.all(np.isfinite(values)):
        raise EventError("scores: the matrix holds NaN or infinite values")
    keep = rows != cols
    if not same_side:
        side = np.array([o.side is Side.EU for o in orgs], dtype=bool)
        keep &= side[rows] != side[cols]
    rows, cols, values = rows[keep], cols[keep], values[keep]
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    code = lo * n + hi
    uniq, inverse, count = np.unique(code, return_inverse=True, return_counts=True)
    total = np.bincount(inverse, weights=values, minlength=len(uniq))
    return Edges(uniq // n, uniq % n, np.clip(total / count, 0.0, 1.0))


def _best(values: np.ndarray, k: int, axis: int) -> np.ndarray:
    """The ``k`` largest entries along ``axis``; ties go to the lower index (blocks list
    participants in index order)."""
    kth = np.expand_dims(-np.partition(-values, k - 1, axis=axis).take(k - 1, axis=axis), axis)
    above = values > kth
    tie = values == kth
    room = k - above.sum(axis=axis, keepdims=True)
    return above | (tie & (np.cumsum(tie, axis=axis) <= room))


def top_k(edges: Edges, n: int, k: int | None) -> Edges:
    """The pairs among the ``k`` best (by score, then partner index) of either participant."""
    if k is None or not len(edges):
        return edges
    m = len(edges)
    owner = np.concatenate([edges.lo, edges.hi])
    index = np.concatenate([np.arange(m), np.arange(m)])
    order = np.lexsort((index, -edges.score[index], owner))
    owner_sorted = owner[order]
    starts = np.searchsorted(owner_sorted, np.arange(n))
    rank = np.arange(2 * m) - starts[owner_sorted]
    keep = np.zeros(m, dtype=bool)
    keep[index[order[rank < k]]] = True
    return Edges(edges.lo[keep], edges.hi[keep], edges.score[keep])


def select(
    blocks: Iterator[Block],
    n: int,
    k: int | None,
    allowed: Callable[[Block], np.ndarray],
    forced: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Edges, np.ndarray]:
    """Each participant's ``k`` best allowed pairs over all blocks (every allowed pair when ``k``
    is None), and the scores of the ``forced`` pairs ``(lo, hi)`` read on the way (0 if unscored)."""
    parts_lo: list[np.ndarray] = []
    parts_hi: list[np.ndarray] = []
    parts_s: list[np.ndarray] = []
    f_lo, f_hi = forced if forced is not None else (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    f_score = np.zeros(len(f_lo))
    rpos = np.full(n, -1, dtype=np.int64)
    cpos = np.full(n, -1, dtype=np.int64)
    for block in blocks:
        ok = allowed(block)
        n_rows, n_cols = ok.shape
        if k is None or k >= n_cols:
            keep = ok
        else:
            values = np.where(ok, block.values, -np.inf)
            keep = _best(values, k, 1)
            if not block.same_group:
                keep |= ok if k >= n_rows else _best(values, k, 0)
            keep &= ok
            del values
        r, c = np.nonzero(keep)
        a, b = block.rows[r], block.cols[c]
        parts_lo.append(np.minimum(a, b))
        parts_hi.append(np.maximum(a, b))
        parts_s.append(block.values[r, c])
        if len(f_lo):
            rpos[block.rows] = np.arange(n_rows)
            cpos[block.cols] = np.arange(n_cols)
            for a, b in ((f_lo, f_hi), (f_hi, f_lo)):
                hit = (rpos[a] >= 0) & (cpos[b] >= 0)
                f_score[hit] = block.values[rpos[a[hit]], cpos[b[hit]]]
            rpos[block.rows] = -1
            cpos[block.cols] = -1
    if not parts_lo:
        empty = np.zeros(0, dtype=np.int64)
        return Edges(empty, empty, np.zeros(0)), f_score
    lo, hi, s = np.concatenate(parts_lo), np.concatenate(parts_hi), np.concatenate(parts_s)
    code, first = np.unique(lo * n + hi, return_index=True)
    return top_k(Edges(code // n, code % n, s[first]), n, k), f_score


def candidate_matrix(
    orgs: Sequence[Organisation],
    scores: np.ndarray | PairScorer,
    k: int | None,
    *,
    same_side: bool = False,
    block_pairs: int = BLOCK_PAIRS,
) -> sp.csr_matrix:
    """A symmetric sparse ``(n, n)`` matrix of each organisation's ``k`` best positive-scored
    counterparts, scored in blocks (``k = None``: every positive pair)."""
    n = len(orgs)

    def allowed(block: Block) -> np.ndarray:
        return (block.values > 0) & (block.rows[:, None] != block.cols[None, :])

    edges, _ = select(score_blocks(orgs, scores, same_side=same_side, block_pairs=block_pairs), n, k, allowed)
    rows = np.concatenate([edges.lo, edges.hi])
    cols = np.concatenate([edges.hi, edges.lo])
    return sp.csr_matrix((np.concatenate([edges.score, edges.score]), (rows, cols)), shape=(n, n))
