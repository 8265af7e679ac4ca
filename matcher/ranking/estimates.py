"""Scores on large registries, where the dense (n_eu x n_mx) matrices are not built.

A query's candidates come from the vector index and are scored with the ranker one block at a
time. The two percentiles of the reciprocal score are estimated against a fixed, seeded sample
of reference organisations per side: every organisation's probabilities against the other
side's sample are computed once per data version and kept sorted.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

from matcher.features import FEATURE_NAMES, FeatureContext
from matcher.filecache import read_arrays, write_arrays
from matcher.profiles import Side
from matcher.ranker import PairRanker, percentile_of
from matcher.ranking.state import State
from matcher.settings import Settings

Block = Callable[[np.ndarray | None, np.ndarray | None], np.ndarray]

REFERENCE_FORMAT = 1
#: The reference probabilities' cache file in the service's home folder.
REFERENCE_FILE = "reference.npz"

class SingleThreaded:
    """Limit BLAS and OpenMP to one thread while any caller is inside (a context manager).

    Callers may nest and overlap from several threads. Most BLAS thread pools are shared by
    the whole process, so their limit is counted: the first caller in sets one thread, the
    last one out restores the counts found on the way in. OpenMP (and OpenBLAS built on it)
    counts threads per calling thread, so each thread sets its own limit on its first entry
    and restores it on its last exit. The controllers are built once (building one costs
    milliseconds).

    A request's matrices are small: a second thread gains nothing, and its workers spinning
    after each parallel section take the core that the server's other work needs (measured:
    sequential requests at 100,000 profiles 17 -> 11 ms).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._shared: Any = None  # controller of the process-wide pools
        self._per_thread: Any = None  # controller of the pools each thread sizes for itself
        self._limiter: Any = None
        self._local = threading.local()
        self._modules = 0  # len(sys.modules) when the controllers were built

    def __enter__(self) -> SingleThreaded:
        with self._lock:
            if self._shared is None or (not self._inside and len(sys.modules) != self._modules):
                # Built once, and again when an import may have loaded another thread pool
                # (the encoder's libraries load on first use).
                self._controllers()
            if not self._inside:
                self._limiter = _as_owner(lambda: self._shared.limit(limits=1))
            self._inside += 1
        local = self._local
        if not getattr(local, "depth", 0):
            local.limiter = self._per_thread.limit(limits=1)
        local.depth = getattr(local, "depth", 0) + 1
        return self

    def __exit__(self, *exc: object) -> None:
        local = self._local
        local.depth -= 1
        if not local.depth:
            local.limiter.restore_original_limits()
            local.limiter = None
        with self._lock:
            self._inside -= 1
            if not self._inside:
                _as_owner(self._limiter.restore_original_limits)
                self._limiter = None

    def _controllers(self) -> None:
        from threadpoolctl import ThreadpoolController

        self._modules = len(sys.modules)
        every = ThreadpoolController()
        self._per_thread = every.select(user_api="openmp", threading_layer="openmp")
        own = {lib.filepath for lib in self._per_thread.lib_controllers}
        self._shared = every.select(filepath=[lib.filepath for lib in every.lib_controllers
                                              if lib.filepath not in own])


def _as_owner(change: Callable[[], Any]) -> Any:
    """Run a thread-count change from the calling thread, whichever it is.

    threadpoolctl lets only one thread (the first to set a limit) change OpenBLAS's
    process-wide pool and silently ignores the others; the first caller into a section and
    the last one out may be different threads, so the calling thread is given control for the
    change and control is released after it.
    """
    try:
        from threadpoolctl import OpenBLASController
        release = OpenBLASController.clear_controlling_thread
    except (ImportError, AttributeError):  # a threadpoolctl where any thread may set limits
        return change()
    release(force=True)
    try:
        return change()
    finally:
        release(force=True)


_single_threaded = SingleThreaded()


def single_threaded() -> SingleThreaded:
    """The process's one :class:`SingleThreaded` section (enter it with ``with``)."""
    return _single_threaded


class RowStore:
    """Feature rows of the scored candidates only, indexed like the full (n, F) array by one
    row or an array of rows (a row that was not scored raises KeyError)."""

    def __init__(self, rows: np.ndarray, values: np.ndarray):
        order = np.argsort(rows, kind="stable")
        self._rows = np.asarray(rows)[order]
        self._values = np.asarray(values)[order]

    def __getitem__(self, row: Any) -> np.ndarray:
        wanted = np.asarray(row)
        if not wanted.size:
            return self._values[wanted.astype(int)]
        pos = np.minimum(np.searchsorted(self._rows, wanted), len(self._rows) - 1)
        if np.any(self._rows[pos] != wanted):
            raise KeyError(row)
        return self._values[pos]


def reference(ctx: FeatureContext, model: PairRanker, settings: Settings, progress: bool = False,
              cache: Path | None = None, version: str = "") -> tuple[dict[Side, np.ndarray], dict[Side, np.ndarray]]:
    """The seeded reference rows per side, and every organisation's sorted probabilities
    against the other side's reference rows (computed once per data version).

    With ``cache``, the probabilities are read from that file when it was written for the same
    data ``version``, ranker, sample and vectors, and written there otherwise.
    """
    rng = np.random.default_rng(settings.seed)
    sample = {}
    for side in (Side.EU, Side.MX):
        n = len(ctx.ids(side))
        sample[side] = np.sort(rng.choice(n, size=min(settings.reference_sample, n), replace=False))
    key = reference_key(ctx, model, sample, version) if cache is not None else ""
    if cache is not None:
        saved = read_arrays(cache, key)
        if saved is not None:
            return sample, {Side.EU: saved["eu"], Side.MX: saved["mx"]}
    reference = {}
    step = 2048
    for side in (Side.EU, Side.MX):
        n = len(ctx.ids(side))
        starts = range(0, n, step)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc=f"reference scores ({side.value})", unit="block")
        out = np.empty((n, len(sample[side.counterpart])), dtype=np.float32)
        for start in starts:
            rows = np.arange(start, min(start + step, n))
            if side is Side.EU:
                out[rows] = model.score_features(ctx.grid(rows, sample[Side.MX]))
            else:
                out[rows] = model.score_features(ctx.grid(sample[Side.EU], rows)).T
        out.sort(axis=1)
        reference[side] = out
    if cache is not None:
        write_arrays(cache, key, {"eu": reference[Side.EU], "mx": reference[Side.MX]})
    return sample, reference


def reference_key(ctx: FeatureContext, model: PairRanker, sample: dict[Side, np.ndarray], version: str) -> str:
    """What the reference probabilities depend on: the data version, the ranker, the sample, the
    feature names and the organisations' vectors (a checksum of each side's sum)."""
    digest = hashlib.sha256(f"{REFERENCE_FORMAT}|{version}|{FEATURE_NAMES}|".encode())
    digest.update(json.dumps(model.to_dict(), sort_keys=True).encode())
    for side in (Side.EU, Side.MX):
        digest.update(np.asarray(sample[side], dtype=np.int64).tobytes())
        digest.update(np.asarray(ctx.side_arrays(side).vectors.sum(0, dtype=np.float64)).tobytes())
        digest.update(str(len(ctx.ids(side))).encode())
    return digest.hexdigest()


def large_scores(state: State, model: PairRanker, side: Side, rows: np.ndarray, block: Block,
                 candidate_pool: int, query_row: int | None = None) -> tuple[np.ndarray, np.ndarray, Any]:
    """Full-length (counterpart) probability, reciprocal and feature arrays filled at ``rows`` only.

    ``block(eu_rows, mx_rows)`` gives the query's features against the counterpart rows
    named on its side of the call (the query's own side is ``None``). Percentiles are read
    against the precomputed reference probabilities (``query_row``: the query's row when it
    is registered; otherwise its reference probabilities are computed here).
    """
    ctx = state.ctx
    counterpart = side.counterpart
    n = len(ctx.ids(counterpart))
    prob = np.full(n, -np.inf)
    recip = np.zeros(n)
    if not len(rows):
        return prob, recip, np.zeros((n if n <= candidate_pool else 0, len(FEATURE_NAMES)))
    with single_threaded():
        x = block(*((None, rows) if side is Side.EU else (rows, None)))
        p = model.score_features(x)
        if query_row is not None:
            own_ref = state.reference[side][query_row]
        else:
            ref_rows = state.sample[counterpart]
            own_ref = np.sort(model.score_features(block(*((None, ref_rows) if side is Side.EU else (ref_rows, None)))))
    theirs_ref = state.reference[counterpart][rows]  # (n_rows, R), sorted
    own = percentile_of(np.searchsorted(own_ref, p, side="right"), len(own_ref))
    theirs = percentile_of((theirs_ref <= p[:, None]).sum(1), theirs_ref.shape[1])
    prob[rows] = p
    recip[rows] = np.sqrt(own * theirs)
    if n > candidate_pool:
        return prob, recip, RowStore(rows, x)
    features = np.zeros((n, len(FEATURE_NAMES)))
    features[rows] = x
    return prob, recip, features


def large_pair_scores(state: State, model: PairRanker, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Reciprocal scores of registered EU rows x MX cols, percentiles estimated as in :func:`large_scores`."""
    with single_threaded():
        p = model.score_features(state.ctx.grid(rows, cols))
    eu_ref = state.reference[Side.EU][rows]  # (a, R)
    mx_ref = state.reference[Side.MX][cols]  # (b, R)
    eu_pct = percentile_of((eu_ref[:, None, :] <= p[:, :, None]).sum(2), eu_ref.shape[1])
    mx_pct = percentile_of((mx_ref[None, :, :] <= p[:, :, None]).sum(2), mx_ref.shape[1])
    return np.sqrt(eu_pct * mx_pct)

