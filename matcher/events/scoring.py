"""Pair scores for planning: the scorer protocol, a sector-overlap scorer and the score matrix.

The planner never ranks partners itself. It takes either a ready matrix or a *scorer*, a
callable with the signature of ``Suggester.score_pairs``: ``scorer(eu, mx) -> ndarray`` of
shape ``(len(eu), len(mx))`` with reciprocal scores in [0, 1].

:func:`sector_scorer` is a simple, deterministic scoring mode (``--scorer sectors``): shared
sectors count fully, sectors that only share a parent or ancestor count partly. It is the
scorer of the tests and benchmarks and works without a registry or a trained ranker.
"""

from __future__ import annotations

import zlib
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from matcher.errors import EventError, InvalidProfile
from matcher.profiles import Organisation, Side
from matcher.taxonomy import Taxonomy, load_taxonomy

PairScorer = Callable[[list[Organisation], list[Organisation]], np.ndarray]


def _sector_sets(
    orgs: Sequence[Organisation], taxonomy: Taxonomy, vocab: dict[str, int]
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Binary sector matrices (organisations × sectors): the sectors themselves, and with their ancestors."""
    exact_rows: list[list[int]] = []
    wide_rows: list[list[int]] = []
    for o in orgs:
        exact_rows.append(sorted({vocab.setdefault(s, len(vocab)) for s in o.sectors}))
        wide = taxonomy.expand([s for s in o.sectors if s in taxonomy])
        wide_rows.append(sorted({vocab.setdefault(s, len(vocab)) for s in wide}))
    return _binary(exact_rows), _binary(wide_rows)


def _binary(rows: list[list[int]]) -> sp.csr_matrix:
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.fromiter((k for r in rows for k in r), dtype=np.int64, count=int(indptr[-1]))
    width = int(indices.max()) + 1 if len(indices) else 0
    return sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(rows), width))


def _jaccard(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    width = max(a.shape[1], b.shape[1])
    a = sp.csr_matrix((a.data, a.indices, a.indptr), shape=(a.shape[0], width))
    b = sp.csr_matrix((b.data, b.indices, b.indptr), shape=(b.shape[0], width))
    inter = (a @ b.T).toarray()
    union = np.diff(a.indptr)[:, None] + np.diff(b.indptr)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def sector_scorer(eu: list[Organisation], mx: list[Organisation], taxonomy: Taxonomy | None = None) -> np.ndarray:
    """Sector-overlap scores: 0.7 × overlap of the sectors + 0.3 × overlap with their ancestors.

    Works for any two lists of organisations (also same-side lists).
    """
    taxonomy = taxonomy or load_taxonomy()
    vocab: dict[str, int] = {}
    exact_a, wide_a = _sector_sets(eu, taxonomy, vocab)
    exact_b, wide_b = _sector_sets(mx, taxonomy, vocab)
    if not len(eu) or not len(mx):
        return np.zeros((len(eu), len(mx)), dtype=np.float64)
    return 0.7 * _jaccard(exact_a, exact_b) + 0.3 * _jaccard(wide_a, wide_b)


def random_scorer(seed: int = 0) -> PairScorer:
    """Seeded scores that depend only on the two ids (for load tests)."""

    def score(eu: list[Organisation], mx: list[Organisation]) -> np.ndarray:

        out = np.zeros((len(eu), len(mx)))
        for i, a in enumerate(eu):
            for j, b in enumerate(mx):
                out[i, j] = (zlib.crc32(f"{seed}|{a.id}|{b.id}".encode()) % 1_000_003) / 1_000_003
        return out

    return score


def score_matrix(
    organisations: Sequence[Organisation],
    scores: np.ndarray | PairScorer,
    *,
    same_side: bool = False,
) -> np.ndarray:
    """Symmetric ``(n, n)`` pair scores over ``organisations`` (in their order).

    ``scores`` is a scorer, an ``(n, n)`` matrix, or an ``(n_eu, n_mx)`` matrix whose rows are
    the EU organisations and columns the MX organisations, each in the order given. Same-side
    pairs are scored only when ``same_side`` is set: a scorer is then also called with two lists
    of one side, and if it refuses them (``InvalidProfile``, as the partner ranker does, which
    scores cross-border pairs only) those pairs are scored by sector overlap.
    """
    n = len(organisations)
    eu = [i for i, o in enumerate(organisations) if o.side is Side.EU]
    mx = [i for i, o in enumerate(organisations) if o.side is Side.MX]
    full = np.zeros((n, n), dtype=np.float64)
    if callable(scores):
        groups = [(eu, mx)] + ([(eu, eu), (mx, mx)] if same_side else [])
        for rows, cols in groups:
            if not rows or not cols:
                continue
            left, right = [organisations[i] for i in rows], [organisations[j] for j in cols]
            try:
                block = np.asarray(scores(left, right), dtype=np.float64)
            except InvalidProfile:
                if rows is cols:  # a cross-border-only scorer: same-side pairs by sector overlap
                    block = sector_scorer(left, right)
                else:
                    raise
            if block.shape != (len(rows), len(cols)):
                raise EventError(f"scorer returned shape {block.shape}, expected {(len(rows), len(cols))}")
            full[np.ix_(rows, cols)] = block
            if rows is not cols:
                full[np.ix_(cols, rows)] = block.T
    else:
        matrix = np.asarray(scores, dtype=np.float64)
        if matrix.shape == (n, n):
            full = matrix.copy()
        elif matrix.shape == (len(eu), len(mx)):
            full[np.ix_(eu, mx)] = matrix
            full[np.ix_(mx, eu)] = matrix.T
        else:
            raise EventError(f"scores: shape {matrix.shape} fits neither ({n}, {n}) nor ({len(eu)}, {len(mx)})")
    if not np.all(np.isfinite(full)):
        raise EventError("scores: the matrix holds NaN or infinite values")
    full = np.clip((full + full.T) / 2, 0.0, 1.0)
    np.fill_diagonal(full, 0.0)
    return full
