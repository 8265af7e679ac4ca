"""The large-registry path of the Suggester (no dense pair matrices), forced on the small fixture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matcher.profiles import Side
from matcher.store.registry import Registry
from matcher.settings import Settings
from matcher.ranking import Suggester
from tests import ranker_fixtures as fx


def _suggesters(home: Path) -> tuple[Registry, Suggester, Suggester]:
    # These tests check ranking mechanics over every candidate; the fit rule has its own test.
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'c2c.db'}", require_fit=False)
    reg = Registry.open(settings, init=False)
    reg.init(seed=False)
    reg.import_records(fx.organisations(), fx.cooperations())
    dense = Suggester(reg, settings, encoder=fx.encoder(), min_probability=0.0)
    large = Suggester(reg, settings.model_copy(update={"dense_pair_limit": 1}), encoder=fx.encoder(),
                      min_probability=0.0, candidate_pool=3)
    return reg, dense, large


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    reg, dense, large = _suggesters(tmp_path_factory.mktemp("scale"))
    yield dense, large
    reg.close()


def test_large_path_keeps_no_dense_matrices(pair):
    dense, large = pair
    assert dense._current().prob is not None
    state = large._current()
    assert state.prob is None and state.grid is None and state.recip is None
    assert set(state.sample) == {Side.EU, Side.MX}


def test_large_path_returns_the_counterpart_side(pair):
    _, large = pair
    for ref, other in (("eu-wind", Side.MX), ("mx-aero", Side.EU)):
        result = large.suggest(ref, k=4)
        assert result.items and all(s.side is other for s in result.items)
        # ordered by the pair probability; the reciprocal score is shown beside it
        probabilities = [s.probability for s in result.items]
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0 < s.score <= 1 for s in result.items)


def test_large_path_respects_filters_and_exclusions(pair):
    dense, large = pair
    by_sector = large.suggest("eu-wind", k=6, sector="aerospace")
    assert {s.id for s in by_sector.items} == {s.id for s in dense.suggest("eu-wind", k=6, sector="aerospace").items}
    assert {s.id for s in by_sector.items} <= {"mx-aero", "mx-aero-school"}
    by_country = large.suggest("mx-energy", k=6, country="FR")
    assert by_country.items and all(s.country == "FR" for s in by_country.items)
    assert "mx-aero" in {s.id for s in large.suggest("eu-aero", k=6).items}
    fresh = large.suggest("eu-aero", k=6, exclude_existing=True)
    assert not {"mx-aero", "mx-aero-school"} & {s.id for s in fresh.items}
    assert large.suggest("eu-wind", k=3, country="DE").note  # no Mexican organisation is in Germany


def test_large_path_ranks_a_clearly_best_candidate_first(pair):
    dense, large = pair
    # Same sectors, shared network, declared interest, documented cooperation: the obvious pairs.
    for ref, best in (("eu-aero", "mx-aero"), ("mx-energy", "eu-wind"), ("eu-auto", "mx-auto")):
        assert large.suggest(ref, k=3).items[0].id == best, ref
        assert dense.suggest(ref, k=3).items[0].id == best, ref
    profile = fx.org("mx-prospect", Side.MX, ["aerostructures"], "aerospace cluster")
    assert large.suggest_for_profile(profile, k=3).items[0].id in {"eu-aero", "eu-mro"}


def test_large_path_probabilities_match_the_dense_path(pair):
    dense, large = pair
    for ref in ("eu-wind", "mx-aero-school"):
        d = {s.id: s.probability for s in dense.suggest(ref, k=6).items}
        lg = {s.id: s.probability for s in large.suggest(ref, k=6).items}
        assert d == lg  # same features and ranker; only the reciprocal percentiles are estimated


def test_large_path_scores_event_pairs(pair):
    _, large = pair
    state = large._current()
    eu = [o for o in state.ctx.eu_orgs if o.id in {"eu-wind", "eu-aero", "eu-auto"}]
    mx = [o for o in state.ctx.mx_orgs if o.id in {"mx-energy", "mx-aero", "mx-auto", "mx-food"}]
    scores = large.score_pairs(eu, mx)
    assert scores.shape == (3, 4) and np.all((scores > 0) & (scores <= 1))
    row = [s.id for s in eu].index("eu-wind")
    assert scores[row].argmax() == [s.id for s in mx].index("mx-energy")


def test_partner_features_from_the_edge_list_match_the_full_comparison(pair, monkeypatch):
    import matcher.features as features

    dense, _ = pair
    ctx = dense._current().ctx
    full = ctx.grid()
    pairs = ctx.pairs(np.array([0, 1, 2, 5, 5]), np.array([3, 0, 1, 1, 4]))
    profile = fx.org("mx-prospect", Side.MX, ["aerostructures"], "aerospace cluster")
    vector = fx.encoder().encode(["aerospace cluster"])[0]
    external = ctx.external(profile, vector)
    monkeypatch.setattr(features, "PARTNER_SIM_FULL_LIMIT", 0)
    monkeypatch.setattr(features, "PAIRS_BLOCK_LIMIT", 2)
    np.testing.assert_allclose(ctx.grid(), full, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ctx.pairs(np.array([0, 1, 2, 5, 5]), np.array([3, 0, 1, 1, 4])), pairs, atol=1e-6)
    np.testing.assert_allclose(ctx.external(profile, vector), external, atol=1e-6)
