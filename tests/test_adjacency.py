"""The sparse cooperation graph, and the features and training rows that read it, checked
against plain dense boolean matrices built independently from the cooperations."""

from __future__ import annotations

import numpy as np
import pytest

from matcher import features as features_module
from matcher.adjacency import Adjacency
from matcher.calibration import held_pairs
from matcher.features import FeatureContext
from matcher.profiles import COOPERATION_WEIGHTS, Cooperation, CooperationType, Side
from matcher.taxonomy import load_taxonomy
from tests import ranker_fixtures as fx

from tests.ranker_fixtures import COL, ctx_fixture, orgs_fixture, vectors_fixture  # noqa: F401 (fixtures)


def dense(ctx: FeatureContext) -> np.ndarray:
    """The (n_eu, n_mx) boolean matrix of the fixture cooperations, built from their ids."""
    out = np.zeros((len(ctx.eu_ids), len(ctx.mx_ids)), dtype=bool)
    for coop in ctx.cooperations:
        out[ctx.eu_ids.index(coop.eu), ctx.mx_ids.index(coop.mx)] = True
    return out


def test_lookups_agree_with_a_dense_matrix():
    rng = np.random.default_rng(4)
    matrix = rng.random((23, 17)) < 0.12
    matrix[5] = False  # an organisation with no cooperation
    adj = Adjacency.from_dense(matrix)
    assert adj.shape == (23, 17) and adj.nnz == matrix.sum() and adj.any()
    np.testing.assert_array_equal(adj.toarray(), matrix)
    np.testing.assert_array_equal(adj.eu_degree, matrix.sum(1))
    np.testing.assert_array_equal(adj.mx_degree, matrix.sum(0))
    np.testing.assert_array_equal(np.stack(adj.edges), np.stack(np.nonzero(matrix)))
    for i in range(23):
        np.testing.assert_array_equal(adj.partners(Side.EU, i), np.flatnonzero(matrix[i]))
        np.testing.assert_array_equal(adj.known(Side.EU, i), matrix[i])
    for j in range(17):
        np.testing.assert_array_equal(adj.partners(Side.MX, j), np.flatnonzero(matrix[:, j]))
        np.testing.assert_array_equal(adj.known(Side.MX, j), matrix[:, j])
    e, m = rng.integers(0, 23, 200), rng.integers(0, 17, 200)
    np.testing.assert_array_equal(adj[e, m], matrix[e, m])
    assert adj[int(e[0]), int(m[0])] is bool(matrix[e[0], m[0]])
    rows, cols = np.array([5, 3, 3, 0, 22]), np.array([16, 2, 2, 9])  # repeats and an empty row
    np.testing.assert_array_equal(adj.block(rows, cols), matrix[np.ix_(rows, cols)])
    np.testing.assert_array_equal(adj.block(np.array([5]), cols), np.zeros((1, 4), dtype=bool))


def test_an_empty_graph_and_repeated_pairs():
    empty = Adjacency(np.zeros(0, int), np.zeros(0, int), (3, 2))
    assert not empty.any() and empty.nnz == 0
    assert not empty.known(Side.EU, 1).any() and empty.known(Side.MX, 0).shape == (3,)
    assert not empty[np.array([0, 2]), np.array([1, 1])].any()
    assert empty.block(np.array([0, 1]), np.array([], dtype=int)).shape == (2, 0)
    no_mx = Adjacency(np.zeros(0, int), np.zeros(0, int), (3, 0))
    assert no_mx.known(Side.EU, 2).shape == (0,)
    twice = Adjacency(np.array([1, 1, 0]), np.array([2, 2, 0]), (2, 3))
    assert twice.nnz == 2
    np.testing.assert_array_equal(twice.toarray(), [[True, False, False], [False, False, True]])


def test_the_context_graph_is_the_documented_pairs(ctx):
    np.testing.assert_array_equal(ctx.adjacency.toarray(), dense(ctx))


def test_partner_features_match_a_dense_computation(ctx, orgs, vectors):
    """partner_sim_mx[i, j]: the highest cosine of MX org j to another MX partner of EU org i
    (and the mirror for partner_sim_eu; NaN without another partner), computed here with loops
    over a dense matrix."""
    adj = dense(ctx)
    eu_vecs = np.stack([vectors[[o.id for o in orgs].index(i)] for i in ctx.eu_ids]).astype(np.float64)
    mx_vecs = np.stack([vectors[[o.id for o in orgs].index(i)] for i in ctx.mx_ids]).astype(np.float64)
    grid = ctx.grid()
    for i in range(adj.shape[0]):
        for j in range(adj.shape[1]):
            mx_partners = [p for p in np.flatnonzero(adj[i]) if p != j]
            eu_partners = [p for p in np.flatnonzero(adj[:, j]) if p != i]
            want_mx = max((mx_vecs[j] @ mx_vecs[p] for p in mx_partners), default=np.nan)
            want_eu = max((eu_vecs[i] @ eu_vecs[p] for p in eu_partners), default=np.nan)
            assert grid[i, j, COL["partner_sim_mx"]] == pytest.approx(want_mx, abs=1e-6, nan_ok=True)
            assert grid[i, j, COL["partner_sim_eu"]] == pytest.approx(want_eu, abs=1e-6, nan_ok=True)
    for name in ("partner_sim_mx", "partner_sim_eu"):
        plane = grid[..., COL[name]]
        assert np.nanmax(plane) > 0 and np.isnan(plane).any() and not np.isnan(plane).all()


def test_type_affinity_leaves_the_pairs_own_edge_out(ctx):
    """type_affinity = log((observed + 1) / (expected + 1)) over the other documented pairs."""
    adj = dense(ctx)
    eu_t, mx_t = ctx.eu.type_code, ctx.mx.type_code
    eu_share = np.array([(eu_t == t).mean() for t in range(ctx.type_counts.shape[0])])
    mx_share = np.array([(mx_t == t).mean() for t in range(ctx.type_counts.shape[0])])
    grid = ctx.grid()
    for i in range(adj.shape[0]):
        for j in range(adj.shape[1]):
            others = [(a, b) for a, b in zip(*np.nonzero(adj)) if (a, b) != (i, j)]
            observed = sum(1 for a, b in others if eu_t[a] == eu_t[i] and mx_t[b] == mx_t[j])
            expected = len(others) * eu_share[eu_t[i]] * mx_share[mx_t[j]]
            want = np.log((observed + 1) / (expected + 1))
            assert grid[i, j, COL["type_affinity"]] == pytest.approx(want, abs=1e-12)


def test_partner_features_of_a_large_registry_equal_the_full_comparison(ctx, monkeypatch):
    full = ctx.grid()
    monkeypatch.setattr(features_module, "PARTNER_SIM_FULL_LIMIT", 0)
    np.testing.assert_allclose(ctx.grid(), full, atol=1e-12)
    rows, cols = np.array([4, 0, 2]), np.array([1, 5])
    np.testing.assert_allclose(ctx.grid(rows, cols), full[np.ix_(rows, cols)], atol=1e-12)


def dense_training_rows(adj: np.ndarray, weight: dict[tuple[int, int], float], negatives: int, seed: int):
    """The training rows drawn from a dense matrix, as they were before the graph was sparse."""
    rng = np.random.default_rng(seed)
    pos_e, pos_m = np.nonzero(adj)
    neg_e, neg_m = [], []
    half = negatives // 2
    for e, m in zip(pos_e, pos_m):
        free_m, free_e = np.flatnonzero(~adj[e]), np.flatnonzero(~adj[:, m])
        if len(free_m):
            picks = rng.choice(free_m, size=min(negatives - half, len(free_m)), replace=False)
            neg_e += [e] * len(picks)
            neg_m += picks.tolist()
        if len(free_e):
            picks = rng.choice(free_e, size=min(half, len(free_e)), replace=False)
            neg_e += picks.tolist()
            neg_m += [m] * len(picks)
    y = np.r_[np.ones(len(pos_e), int), np.zeros(len(neg_e), int)]
    w = np.r_[[weight[e, m] for e, m in zip(pos_e, pos_m)], np.ones(len(neg_e))]
    return np.r_[pos_e, neg_e].astype(int), np.r_[pos_m, neg_m].astype(int), y, w


def test_training_rows_equal_the_dense_draw(orgs, vectors):
    src = fx.SRC
    coops = fx.cooperations() + [Cooperation(id="c1-again", eu="eu-wind", mx="mx-energy",
                                             type=CooperationType.DELEGATION, sources=src)]
    ctx = FeatureContext.build(orgs, coops, vectors, load_taxonomy())
    weight: dict[tuple[int, int], float] = {}
    for c in coops:
        key = (ctx.eu_ids.index(c.eu), ctx.mx_ids.index(c.mx))
        weight[key] = max(weight.get(key, 0.0), COOPERATION_WEIGHTS[c.type])
    for negatives, seed in ((4, 3), (30, 0), (7, 11)):
        got = ctx.training_rows(negatives, seed)
        want = dense_training_rows(dense(ctx), weight, negatives, seed)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
        X = ctx.pairs(got[0], got[1])
        grid = ctx.grid()
        np.testing.assert_array_equal(X, grid[got[0], got[1]])


def test_held_pairs_are_the_rows_and_columns_of_a_dense_mask():
    mask = np.zeros((7, 5), dtype=bool)
    eu_rows, mx_rows = np.array([1, 4]), np.array([0, 3])
    mask[eu_rows, :] = True
    mask[:, mx_rows] = True
    e, m = held_pairs(eu_rows, mx_rows, 7, 5)
    np.testing.assert_array_equal(np.stack([e, m]), np.stack(np.nonzero(mask)))
    e, m = held_pairs(np.array([], dtype=int), np.array([2]), 7, 5)
    np.testing.assert_array_equal(np.stack([e, m]), np.stack([np.arange(7), np.full(7, 2)]))
    assert held_pairs(eu_rows, mx_rows, 7, 0)[0].shape == (0,)


def test_partner_lists_of_many_rows():
    matrix = np.zeros((4, 3), dtype=bool)
    matrix[[0, 0, 2], [1, 2, 1]] = True
    adj = Adjacency.from_dense(matrix)
    lists = adj.partner_lists(Side.EU, np.array([2, 1, 0, 2]))
    assert [p.tolist() for p in lists] == [[1], [], [1, 2], [1]]
    assert [p.tolist() for p in adj.partner_lists(Side.MX, np.array([1, 0]))] == [[0, 2], []]
