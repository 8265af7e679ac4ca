"""Pair features on a tiny hand-made registry with exact keyword vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matcher.errors import InvalidProfile
from matcher.features import FEATURE_NAMES, FeatureContext, monotone_constraints
from matcher.profiles import COOPERATION_WEIGHTS, Cooperation, CooperationType, Side
from matcher.taxonomy import load_taxonomy
from tests import ranker_fixtures as fx

from tests.ranker_fixtures import COL, ctx_fixture, orgs_fixture, vectors_fixture  # noqa: F401 (fixtures)


def feat(ctx, eu: str, mx: str, name: str) -> float:
    e, m = ctx.position(eu)[1], ctx.position(mx)[1]
    return float(ctx.grid()[e, m, COL[name]])


def vec(orgs, vectors, org_id):
    return vectors[[o.id for o in orgs].index(org_id)]


def test_sides_are_split_and_positions_known(ctx):
    assert ctx.eu_ids == ["eu-wind", "eu-solar", "eu-aero", "eu-mro", "eu-auto", "eu-soft"]
    assert ctx.position("mx-aero") == (Side.MX, 2)
    assert ctx.grid().shape == (6, 6, len(FEATURE_NAMES))


def test_embedding_similarity_is_the_cosine_of_the_vectors(ctx, orgs, vectors):
    expected = float(vec(orgs, vectors, "eu-aero") @ vec(orgs, vectors, "mx-aero-school"))
    assert 0 < expected < 1
    assert feat(ctx, "eu-aero", "mx-aero-school", "embedding_sim") == pytest.approx(expected, abs=1e-6)


def test_sector_overlaps(ctx):
    # wind vs energy: no exact overlap; {wind, renewable-energy, energy} vs {energy}; same root.
    assert feat(ctx, "eu-wind", "mx-energy", "sector_jaccard") == 0.0
    assert feat(ctx, "eu-wind", "mx-energy", "parent_overlap") == pytest.approx(1 / 3)
    assert feat(ctx, "eu-wind", "mx-energy", "root_overlap") == 1.0
    # wind vs {wind, solar}: 1 of 2 exact; 3 of 4 with parents.
    assert feat(ctx, "eu-wind", "mx-wind", "sector_jaccard") == pytest.approx(0.5)
    assert feat(ctx, "eu-wind", "mx-wind", "parent_overlap") == pytest.approx(0.75)
    # unrelated sectors
    assert feat(ctx, "eu-soft", "mx-food", "parent_overlap") == 0.0
    assert feat(ctx, "eu-soft", "mx-food", "root_overlap") == 0.0


def test_declared_mexico_interest(ctx):
    # eu-wind wants renewable-energy: mx-wind is below it, mx-energy only shares the root.
    assert feat(ctx, "eu-wind", "mx-wind", "interest_match") == 1.0
    assert feat(ctx, "eu-wind", "mx-energy", "interest_match") == 0.5
    assert feat(ctx, "eu-wind", "mx-food", "interest_match") == 0.0
    assert feat(ctx, "eu-wind", "mx-food", "eu_mexico_interest") == 1.0
    assert feat(ctx, "eu-mro", "mx-aero", "eu_mexico_interest") == 0.0
    assert feat(ctx, "eu-mro", "mx-aero", "interest_match") == 0.0


def test_types_labels_memberships_and_size(ctx):
    assert feat(ctx, "eu-wind", "mx-energy", "same_type") == 1.0
    assert feat(ctx, "eu-wind", "mx-wind", "same_type") == 0.0
    assert feat(ctx, "eu-wind", "mx-energy", "label") == pytest.approx(0.5)  # gold on one side
    assert feat(ctx, "eu-wind", "mx-energy", "eccp_member") == 1.0
    assert feat(ctx, "eu-aero", "mx-aero", "shared_network") == 1.0
    assert feat(ctx, "eu-aero", "mx-aero", "network_member") == 1.0
    assert feat(ctx, "eu-aero", "mx-food", "network_member") == 0.5
    assert feat(ctx, "eu-aero", "mx-food", "shared_network") == 0.0
    assert feat(ctx, "eu-wind", "mx-food", "eu_size") == pytest.approx(math.log1p(120))
    assert feat(ctx, "eu-wind", "mx-food", "eu_size_known") == 1.0
    assert feat(ctx, "eu-aero", "mx-aero", "eu_size") == 0.0
    assert feat(ctx, "eu-aero", "mx-aero", "eu_size_known") == 0.0
    assert feat(ctx, "eu-aero", "mx-aero", "mx_size") == pytest.approx(math.log1p(60))


def test_type_affinity_is_a_smoothed_lift_without_the_pairs_own_edge(ctx):
    # Documented pairs by (EU type, MX type): cluster-cluster 3, association-association 1,
    # cluster-education 2; EU types 5/6 cluster, MX types 4/6 cluster.
    not_linked = math.log((3 + 1) / (6 * (5 / 6) * (4 / 6) + 1))
    assert feat(ctx, "eu-soft", "mx-food", "type_affinity") == pytest.approx(not_linked)
    linked = math.log((3 - 1 + 1) / ((6 - 1) * (5 / 6) * (4 / 6) + 1))
    assert feat(ctx, "eu-wind", "mx-energy", "type_affinity") == pytest.approx(linked)


def test_graph_proximity_uses_other_partners_only(ctx, orgs, vectors):
    v = lambda i: vec(orgs, vectors, i)  # noqa: E731
    # eu-aero's partners are mx-aero and mx-aero-school; for the pair with mx-aero only the other one counts.
    assert feat(ctx, "eu-aero", "mx-aero", "partner_sim_mx") == pytest.approx(float(v("mx-aero") @ v("mx-aero-school")), abs=1e-6)
    expected = max(float(v("mx-food") @ v("mx-aero")), float(v("mx-food") @ v("mx-aero-school")))
    assert feat(ctx, "eu-aero", "mx-food", "partner_sim_mx") == pytest.approx(expected, abs=1e-6)
    # mx-aero-school's European partners are eu-mro and eu-aero.
    assert feat(ctx, "eu-aero", "mx-aero-school", "partner_sim_eu") == pytest.approx(float(v("eu-aero") @ v("eu-mro")), abs=1e-6)
    expected = max(float(v("eu-soft") @ v("eu-mro")), float(v("eu-soft") @ v("eu-aero")))
    assert feat(ctx, "eu-soft", "mx-aero-school", "partner_sim_eu") == pytest.approx(expected, abs=1e-6)
    # no partners at all: unknown, not low
    assert np.isnan(feat(ctx, "eu-soft", "mx-food", "partner_sim_mx"))
    assert np.isnan(feat(ctx, "eu-soft", "mx-food", "partner_sim_eu"))


def test_sector_affinity_leaves_the_pairs_own_edge_out(ctx):
    """A documented pair's sector affinity is what it would be without that pair."""
    pair = feat(ctx, "eu-aero", "mx-aero", "sector_affinity")
    twin = next(c for c in ctx.cooperations if c.pair == ("eu-aero", "mx-aero"))
    without = FeatureContext.build([*ctx.eu_orgs, *ctx.mx_orgs], [c for c in ctx.cooperations if c is not twin],
                                   np.concatenate([ctx.eu.vectors, ctx.mx.vectors]), ctx.taxonomy)
    assert pair == pytest.approx(feat(without, "eu-aero", "mx-aero", "sector_affinity"))


def test_popularity_is_not_a_feature():
    assert not any("popularity" in name for name in FEATURE_NAMES)


def test_documented_pairs_look_exactly_as_if_undocumented(orgs, vectors, ctx):
    """Leave-the-edge-out: a pair's features never see its own cooperation."""
    tax = load_taxonomy()
    for coop in fx.cooperations():
        without = FeatureContext.build(orgs, [c for c in fx.cooperations() if c.pair != coop.pair], vectors, tax)
        e, m = ctx.position(coop.eu)[1], ctx.position(coop.mx)[1]
        np.testing.assert_allclose(ctx.grid()[e, m], without.grid()[e, m], atol=1e-12, err_msg=coop.id)


def test_pairs_and_grid_agree(ctx):
    e = np.array([0, 2, 2, 5])
    m = np.array([1, 2, 3, 0])
    np.testing.assert_allclose(ctx.pairs(e, m), ctx.grid()[e, m])
    np.testing.assert_allclose(ctx.grid(np.array([2]), np.array([3, 1])), ctx.grid()[[2]][:, [3, 1]])


def test_external_profile_without_cooperations_matches_its_registered_row(ctx, orgs, vectors):
    soft = next(o for o in orgs if o.id == "eu-soft")  # registered, but no cooperations
    row = ctx.external(soft, vec(orgs, vectors, "eu-soft"))
    np.testing.assert_allclose(row, ctx.grid()[ctx.position("eu-soft")[1]], atol=1e-12)
    food = next(o for o in orgs if o.id == "mx-food")
    col = ctx.external(food, vec(orgs, vectors, "mx-food"))
    np.testing.assert_allclose(col, ctx.grid()[:, ctx.position("mx-food")[1]], atol=1e-12)


def test_an_edited_copy_of_a_registered_profile_does_not_resemble_itself(ctx, orgs, vectors):
    mro = next(o for o in orgs if o.id == "eu-mro")  # partner of mx-aero-school, like eu-aero
    row = ctx.external(mro, vec(orgs, vectors, "eu-mro"))
    school = ctx.position("mx-aero-school")[1]
    # as a newcomer it has no partners, and among mx-aero-school's partners only eu-aero counts
    expected = float(vec(orgs, vectors, "eu-mro") @ vec(orgs, vectors, "eu-aero"))
    assert row[school, COL["partner_sim_eu"]] == pytest.approx(expected, abs=1e-6)
    assert np.isnan(row[:, COL["partner_sim_mx"]]).all()


def test_training_rows_are_seeded_cross_side_non_pairs(ctx):
    e, m, y, w = ctx.training_rows(negatives_per_positive=4, seed=3)
    assert y.sum() == 6 and len(y) == 6 + 6 * 4
    assert not ctx.adjacency[e[y == 0], m[y == 0]].any()
    assert ctx.adjacency[e[y == 1], m[y == 1]].all()
    weights = {(ctx.eu_ids[a], ctx.mx_ids[b]): wt for a, b, wt in zip(e[y == 1], m[y == 1], w[y == 1])}
    assert weights[("eu-wind", "mx-energy")] == COOPERATION_WEIGHTS[CooperationType.SIGNED_MOU]
    assert weights[("eu-auto", "mx-auto")] == COOPERATION_WEIGHTS[CooperationType.DELEGATION]
    assert (w[y == 0] == 1).all()
    again = ctx.training_rows(negatives_per_positive=4, seed=3)
    for a, b in zip((e, m, y, w), again):
        np.testing.assert_array_equal(a, b)
    other = ctx.training_rows(negatives_per_positive=4, seed=4)
    assert not (np.array_equal(other[0], e) and np.array_equal(other[1], m))


def test_a_pair_documented_twice_keeps_its_strongest_weight(orgs, vectors):
    src = fx.SRC
    coops = fx.cooperations() + [Cooperation(id="c1-again", eu="eu-wind", mx="mx-energy",
                                             type=CooperationType.DELEGATION, sources=src)]
    ctx = FeatureContext.build(orgs, coops, vectors, load_taxonomy())
    assert ctx.adjacency.nnz == 6
    assert ctx.weights[ctx.position("eu-wind")[1], ctx.position("mx-energy")[1]] == 1.0


def test_bad_inputs_raise_domain_errors(orgs, vectors):
    tax = load_taxonomy()
    wrong_side = Cooperation(id="bad", eu="mx-food", mx="eu-soft", type=CooperationType.LISTED, sources=fx.SRC)
    with pytest.raises(InvalidProfile) as err:
        FeatureContext.build(orgs, [wrong_side], vectors, tax)
    assert err.value.field == "eu"
    with pytest.raises(InvalidProfile) as err:
        FeatureContext.build(orgs, [], vectors[:-1], tax)
    assert err.value.field == "vectors"
    odd = orgs[0].model_copy(update={"sectors": ["not-a-sector"]})
    with pytest.raises(InvalidProfile) as err:
        FeatureContext.build([odd], [], vectors[:1], tax)
    assert err.value.field == "sectors"
    with pytest.raises(InvalidProfile):
        FeatureContext.build(orgs, [], {"eu-wind": vectors[0]}, tax)


def test_monotone_constraints_cover_the_similarity_features():
    signs = dict(zip(FEATURE_NAMES, monotone_constraints()))
    assert signs["embedding_sim"] == 1 and signs["partner_sim_mx"] == 1 and signs["sector_jaccard"] == 1
    assert signs["eu_size"] == 0 and signs["type_affinity"] == 0
