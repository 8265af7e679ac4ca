"""Scores on large registries, where the dense (n_eu x n_mx) matrices are not built.

A query's candidates come from the vector index and are scored with the ranker one block at a
time. The two percentiles of the reciprocal score are estimated against a fixed, seeded sample
of reference organisations per side: every organisation's probabilities against the other
side's sample are computed once per data version and kept sorted.
"""

from __future__ import annotations

import hashlib
import json
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

_controller = None


def single_threaded() -> Any:
    """Limit BLAS and OpenMP to one thread in the calling thread (a cached controller: building
    one per call costs milliseconds).

    A request's matrices are small: a second thread gains nothing, and its workers spinning
    after each parallel section take the core that the server's other work needs (measured:
    sequential requests at 100,000 profiles 17 -> 11 ms).
    """
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1)


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

