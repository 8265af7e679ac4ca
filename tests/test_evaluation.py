"""The evaluation: metrics by hand, bootstrap intervals, folds without leakage, both directions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from matcher.errors import InvalidProfile
from matcher.evaluation import (
    BASELINES,
    EU_TO_MX,
    EXTERNAL,
    LOOO,
    LOPO,
    METHODS,
    METRICS,
    MX_TO_EU,
    RANKER,
    RANKER_FIT,
    ProtocolResult,
    RankRecord,
    bootstrap,
    evaluate,
    fold_context,
    folds,
    metric_values,
    paired_test,
    rank_of,
    run_protocol,
    scorers,
)
from matcher.evaluation.baselines import BOOSTED, NESTED, NESTED_GRID, nested_choice
from matcher.features import FeatureContext, fits
from matcher.profiles import CooperationType, Side, Split
from matcher.ranker import fit_ranker
from matcher.taxonomy import load_taxonomy
from tests import ranker_fixtures as fx


def rec(pair: str, direction: str, greater: int, ties: int = 0, method: str = "m", group: str | None = None) -> RankRecord:
    return RankRecord("p", method, group or pair, pair, direction, "q", "t", greater, ties, 50)


# ---------------------------------------------------------------------- metrics by hand
def test_metrics_on_a_hand_made_rank_list():
    records = [
        rec("a", EU_TO_MX, 0), rec("a", MX_TO_EU, 2),  # ranks 1 and 3
        rec("b", EU_TO_MX, 11), rec("b", MX_TO_EU, 4),  # ranks 12 and 5
    ]
    m = metric_values(records, covered={"x", "y", "z"}, population=12)
    assert m["hit@1"] == 0.25
    assert m["hit@5"] == 0.75
    assert m["hit@10"] == 0.75
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 12 + 1 / 5) / 4)
    assert m["median_rank"] == 4.0
    assert m["reciprocal_hit@10"] == 0.5  # a in both top 10s, b not
    assert m["coverage@10"] == 0.25
    assert set(m) == set(METRICS)


def test_newcomer_roles_split_the_queries_by_who_is_new():
    def r(group: str, query: str, target: str, greater: int) -> RankRecord:
        return RankRecord(LOOO, "m", group, f"{query}|{target}", EU_TO_MX, query, target, greater, 0, 50)

    records = [r("a", "a", "x", 0), r("a", "a", "y", 3), r("a", "x", "a", 19), r("b", "y", "b", 1)]
    res = ProtocolResult(LOOO, {}, records, None, 2, 3, 2)
    roles = res.newcomer_roles()["m"]
    assert roles["asks"] == {"queries": 2, "mrr": pytest.approx((1 + 1 / 4) / 2), "hit@10": 1.0}
    assert roles["found"] == {"queries": 2, "mrr": pytest.approx((1 / 20 + 1 / 2) / 2), "hit@10": 0.5}
    assert ProtocolResult(LOPO, {}, records, None, 2, 3, 2).newcomer_roles() == {}


def test_ties_count_in_expectation():
    r = rec("a", EU_TO_MX, greater=2, ties=3)  # rank uniform on 3..6
    assert r.rank == 4.5
    assert r.hit(1) == 0.0
    assert r.hit(4) == pytest.approx(0.5)
    assert r.hit(10) == 1.0
    assert r.reciprocal_rank() == pytest.approx((1 / 3 + 1 / 4 + 1 / 5 + 1 / 6) / 4)
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.5, 0.9])
    assert rank_of(scores, np.arange(6), target=0) == (2, 2, 6)
    assert rank_of(scores, np.array([0, 2, 3]), target=0) == (0, 1, 3)


def test_bootstrap_interval_contains_the_point_estimate_and_is_seeded():
    rng = np.random.default_rng(1)
    records = []
    for i in range(40):
        records += [rec(f"p{i}", EU_TO_MX, int(rng.integers(0, 30))), rec(f"p{i}", MX_TO_EU, int(rng.integers(0, 30)))]
    covers = {f"p{i}": {f"o{int(rng.integers(0, 60))}" for _ in range(5)} for i in range(40)}
    est = bootstrap(records, covers, population=60, resamples=1000, seed=0)
    assert set(est) == set(METRICS)
    for name, e in est.items():
        assert e.low <= e.value <= e.high, name
        assert e.low < e.high, name
    assert est["mrr"].value == pytest.approx(metric_values(records)["mrr"])
    again = bootstrap(records, covers, population=60, resamples=1000, seed=0)
    assert again == est
    other = bootstrap(records, covers, population=60, resamples=1000, seed=1)
    assert other["mrr"] != est["mrr"]


def test_paired_test_detects_a_real_difference_and_not_an_absent_one():
    good = [rec(f"p{i}", d, 0, method="good") for i in range(30) for d in (EU_TO_MX, MX_TO_EU)]
    bad = [rec(f"p{i}", d, 5 + i % 4, method="bad") for i in range(30) for d in (EU_TO_MX, MX_TO_EU)]
    t = paired_test(good, bad, resamples=1000, seed=0)
    assert t.mean_difference > 0.5 and t.bootstrap_p < 0.01 and t.wilcoxon_p < 0.01 and t.groups == 30
    same = paired_test(good, [RankRecord(**{**r.__dict__, "method": "copy"}) for r in good], resamples=200, seed=0)
    assert same.mean_difference == 0 and same.bootstrap_p == 1.0 and same.wilcoxon_p == 1.0
    no_resamples = paired_test(good, bad, resamples=0)
    assert np.isnan(no_resamples.bootstrap_p) and no_resamples.wilcoxon_p < 0.01


# ---------------------------------------------------------------------- folds and leakage
@pytest.fixture(scope="module")
def data():
    orgs = fx.organisations()
    return orgs, fx.cooperations(), fx.vectors(orgs), load_taxonomy()


def test_leave_one_pair_out_folds_hold_out_every_record_of_the_pair(data):
    orgs, coops, _, _ = data
    fl = folds(LOPO, coops)
    assert len(fl) == 6
    for fold in fl:
        (pair,) = fold.heldout
        assert all(c.pair != pair for c in fold.train)
        assert len(fold.train) == 5
        assert {(q, t) for _, q, t in fold.queries} == {(pair[0], pair[1]), (pair[1], pair[0])}
    with pytest.raises(InvalidProfile):
        folds("leave-nothing-out", coops)


def test_newcomer_folds_hold_out_every_pair_of_the_organisation(data):
    orgs, coops, _, _ = data
    fold = next(f for f in folds(LOOO, coops) if f.group == "eu-aero")
    assert set(fold.heldout) == {("eu-aero", "mx-aero"), ("eu-aero", "mx-aero-school")}
    assert all("eu-aero" not in c.pair for c in fold.train)
    assert len(fold.queries) == 4


def test_the_external_test_part_is_never_trained_on(data):
    """Pairs marked split=test are held out of every protocol's training and ranked only by the
    external protocol, in one fold trained on the rest."""
    orgs, coops, _, _ = data
    test_pair = coops[0].pair
    marked = [c.model_copy(update={"split": Split.TEST}) if c.pair == test_pair else c for c in coops]
    (fold,) = folds(EXTERNAL, marked)
    assert fold.heldout == [test_pair]
    assert all(c.pair != test_pair for c in fold.train) and len(fold.train) == len(coops) - 1
    for protocol in (LOPO, LOOO):
        for f in folds(protocol, marked):
            assert all(c.pair != test_pair for c in f.train)
            assert test_pair not in f.heldout
    assert folds(EXTERNAL, coops) == []  # no test part, no external fold


def test_a_fold_context_has_no_trace_of_the_held_out_pair(data):
    """Features built for a fold equal those of a registry where the pair never existed."""
    orgs, coops, vectors, tax = data
    for fold in folds(LOPO, coops):
        (pair,) = fold.heldout
        ctx = fold_context(orgs, fold, vectors, tax)
        e, m = ctx.position(pair[0])[1], ctx.position(pair[1])[1]
        assert not ctx.adjacency[e, m] and ctx.weights[e, m] == 0
        assert all(c.pair != pair for c in ctx.cooperations)
        never = [c.model_copy() for c in fx.cooperations() if c.pair != pair]
        fresh = FeatureContext.build(fx.organisations(), never, fx.vectors(fx.organisations()), load_taxonomy())
        np.testing.assert_array_equal(ctx.grid(), fresh.grid())


def test_the_fold_ranker_ignores_everything_about_the_held_out_pair(data):
    orgs, coops, vectors, tax = data
    fold = folds(LOPO, coops)[0]
    changed = [c.model_copy(update={"type": CooperationType.LISTED, "year": 1999}) if c.pair == fold.heldout[0] else c
               for c in coops]
    fold_changed = next(f for f in folds(LOPO, changed) if f.heldout == fold.heldout)
    a = fit_ranker(fold_context(orgs, fold, vectors, tax))
    b = fit_ranker(fold_context(orgs, fold_changed, vectors, tax))
    np.testing.assert_array_equal(a.coef_, b.coef_)
    full = fit_ranker(FeatureContext.build(orgs, coops, vectors, tax))
    assert not np.array_equal(a.coef_, full.coef_)


def test_both_directions_are_ranked_with_filtered_candidates(data):
    orgs, coops, vectors, tax = data
    texts = [o.description for o in orgs]
    methods = {m: f for m, f in scorers(orgs, texts, C=1.0, negatives=4, seed=0).items() if m in METHODS}
    records, covers = run_protocol(LOPO, orgs, coops, vectors, tax, methods, seed=0)
    assert len(records) == 6 * 2 * len(METHODS)
    for method in METHODS:
        mine = [r for r in records if r.method == method]
        assert {(r.pair, r.direction) for r in mine} == {(f"{c.eu}|{c.mx}", d) for c in coops for d in (EU_TO_MX, MX_TO_EU)}
        assert set(covers[method]) == {f"{c.eu}|{c.mx}" for c in coops}
    by = {(r.pair, r.direction): r for r in records if r.method == RANKER}
    # eu-aero's other partner (mx-aero-school) is filtered out when mx-aero is held out: 6 - 1.
    assert by[("eu-aero|mx-aero", EU_TO_MX)].candidates == 5
    # mx-aero-school's other partner (eu-mro) is filtered out when eu-aero is held out.
    assert by[("eu-aero|mx-aero-school", MX_TO_EU)].candidates == 5
    assert by[("eu-wind|mx-energy", EU_TO_MX)].candidates == 6
    assert all(r.query == r.pair.split("|")[0] for r in records if r.direction == EU_TO_MX)
    # random scores tie everything: exactly the expected values
    rnd = [r for r in records if r.method == "random"]
    assert all(r.greater == 0 and r.ties == r.candidates - 1 for r in rnd)


def test_the_fit_rule_ranks_fitting_candidates_first_in_the_ranker_order(data):
    """``ranker (fit rule)``: the served lists' rule on top of the ranker's order, nothing else."""
    orgs, coops, vectors, tax = data
    methods = scorers(orgs, [o.description for o in orgs], C=1.0, negatives=4, seed=0)
    ctx = FeatureContext.build(orgs, coops, vectors, tax)
    probabilities, ruled = methods[RANKER](ctx), methods[RANKER_FIT](ctx)
    fit = fits(ctx.grid())
    assert fit.any() and (~fit).any()
    assert ruled[fit].min() > ruled[~fit].max()
    for group in (fit, ~fit):  # within each group, the ranker's order exactly
        np.testing.assert_allclose(ruled[group] - probabilities[group], 1.0 if group is fit else 0.0)


def test_newcomer_protocol_filters_the_other_held_out_partners(data):
    orgs, coops, vectors, tax = data
    methods = {"embedding": scorers(orgs, [o.description for o in orgs], 1.0, 4, 0)["embedding"]}
    records, _ = run_protocol(LOOO, orgs, coops, vectors, tax, methods, seed=0)
    mine = [r for r in records if r.group == "eu-aero"]
    assert len(mine) == 4
    from_newcomer = [r for r in mine if r.query == "eu-aero"]
    assert {r.target for r in from_newcomer} == {"mx-aero", "mx-aero-school"}
    assert all(r.candidates == 5 for r in from_newcomer)


# ---------------------------------------------------------------------- end to end
def test_evaluate_reports_every_method_under_both_protocols(data, tmp_path):
    orgs, coops, vectors, tax = data
    result = evaluate(orgs, coops, vectors, taxonomy=tax, texts=[o.description for o in orgs], resamples=200,
                      seed=0, negatives=4)
    for protocol in (LOPO, LOOO):
        res = result.protocols[protocol]
        table = res.table()
        assert list(table.index) == list(METHODS) and list(table.columns) == list(METRICS)
        assert res.comparison is not None and res.comparison.baseline in BASELINES
        assert (res.fit_rule.method, res.fit_rule.baseline) == (RANKER_FIT, RANKER)
        if protocol == LOPO:  # two queries per group: the mean paired difference is the difference in MRR
            mrr = {m: res.metrics[m]["mrr"].value for m in (RANKER, RANKER_FIT)}
            assert res.fit_rule.mean_difference == pytest.approx(mrr[RANKER_FIT] - mrr[RANKER])
        rnd = res.metrics["random"]
        assert rnd["hit@1"].value == pytest.approx(np.mean([1 / r.candidates for r in res.records if r.method == "random"]))
    paths = result.write(tmp_path / "out")
    assert [p.name for p in paths] == ["results.json", "results.md", "ranks.csv"]
    payload = json.loads(paths[0].read_text())
    assert set(payload["protocols"]) == {LOPO, LOOO}  # the fixture has no external test part
    assert set(payload["protocols"][LOPO]["methods"]) == set(METHODS)
    md = paths[1].read_text()
    assert all(m in md for m in METHODS) and "Wilcoxon" in md and "fit rule" in md
    assert "newcomer is found" in md and payload["protocols"][LOPO]["newcomer_roles"] is None
    assert set(payload["protocols"][LOOO]["newcomer_roles"][RANKER]) == {"asks", "found"}
    assert payload["protocols"][LOPO]["fit_rule"]["baseline"] == RANKER
    # The calibration check of the newcomer protocol: one point per ranked candidate of each query.
    rel = result.calibration[LOOO]
    ranker = [r for r in result.protocols[LOOO].records if r.method == RANKER]
    assert rel.pairs == sum(r.candidates for r in ranker) and rel.positives == len(ranker)
    assert sum(b["pairs"] for b in rel.bins) == rel.pairs
    assert payload["calibration"][LOOO]["positives"] == len(ranker) and "calibration: " + LOOO in md
    frame = result.ranks_frame()
    assert {"pair", "direction", "rank", "reciprocal_rank"} <= set(frame.columns)
    assert len(frame) == sum(len(r.records) for r in result.protocols.values())
    with pytest.raises(InvalidProfile):
        evaluate(orgs, coops, vectors, taxonomy=tax, methods=["oracle"], resamples=0)


def test_popularity_bias_counts_lists_and_unrelated_items(data):
    """One Mexican organisation made the best candidate of every European list: its share is the
    number of European lists it may enter (it fits, it is not a known partner) over all of them."""
    from matcher.evaluation import popularity_bias

    orgs, coops, vectors, tax = data
    ctx = FeatureContext.build(orgs, coops, vectors, tax)
    grid = ctx.grid()
    prob = np.full(grid.shape[:2], 0.5)
    prob[:, 0] = 1.0
    bias = popularity_bias(ctx, prob, grid, k=1)
    eligible = fits(grid[:, 0]) & ~ctx.adjacency.known(Side.MX, 0)
    expected = eligible.sum() / len(ctx.eu_ids)
    assert bias.queries == len(ctx.eu_ids) + len(ctx.mx_ids)
    listed = {o["id"]: o["share"] for o in bias.over_suggested}
    assert listed.get(ctx.mx_ids[0], 0.0) == pytest.approx(round(expected, 3)) or expected <= 0.2
    assert bias.max_share >= expected
    roots = (ctx.eu.roots @ ctx.mx.roots.T) > 0
    assert bias.unrelated_share == pytest.approx(0.0) or not roots.all()


def test_popularity_bias_leaves_closed_organisations_out_as_the_served_lists_do(data):
    """Lists as long as the Mexican side: closing one Mexican organisation removes it from every
    European list it was eligible for, and from nothing else."""
    from matcher.evaluation import popularity_bias

    orgs, coops, vectors, tax = data
    first_mx = next(i for i, o in enumerate(orgs) if o.side is Side.MX)
    closed = [o.model_copy(update={"facts": o.facts.model_copy(update={"closed": 2018})}) if i == first_mx else o
              for i, o in enumerate(orgs)]
    items = []
    for registry in (orgs, closed):
        ctx = FeatureContext.build(registry, coops, vectors, tax)
        grid = ctx.grid()
        assert ctx.mx_ids[0] == orgs[first_mx].id
        items.append(popularity_bias(ctx, np.full(grid.shape[:2], 0.5), grid, k=len(ctx.mx_ids)).items)
    eligible = fits(grid[:, 0]) & ~ctx.adjacency.known(Side.MX, 0)
    assert eligible.sum() > 0
    assert items[0] - items[1] == eligible.sum()


def test_the_boosted_candidate_is_evaluated_on_request_under_the_same_folds(data):
    orgs, coops, vectors, tax = data
    result = evaluate(orgs, coops, vectors, taxonomy=tax, texts=[o.description for o in orgs], resamples=50,
                      seed=0, negatives=4, methods=[RANKER, BOOSTED, "random"], protocols=[LOOO])
    res = result.protocols[LOOO]
    assert list(res.table().index) == [RANKER, BOOSTED, "random"]
    ranker = sorted((r.pair, r.direction) for r in res.records if r.method == RANKER)
    boosted = sorted((r.pair, r.direction) for r in res.records if r.method == BOOSTED)
    assert ranker == boosted and boosted  # the same held-out queries
    assert 0 < res.metrics[BOOSTED]["mrr"].value <= 1
    assert BOOSTED not in METHODS  # not in the default tables


def test_the_nested_ranker_chooses_its_settings_inside_each_fold(data):
    orgs, coops, vectors, tax = data
    result = evaluate(orgs, coops, vectors, taxonomy=tax, texts=[o.description for o in orgs], resamples=50,
                      seed=0, negatives=4, methods=[RANKER, NESTED], protocols=[LOOO])
    res = result.protocols[LOOO]
    ranker = sorted((r.pair, r.direction) for r in res.records if r.method == RANKER)
    nested = sorted((r.pair, r.direction) for r in res.records if r.method == NESTED)
    assert ranker == nested and nested
    assert 0 < res.metrics[NESTED]["mrr"].value <= 1
    assert NESTED not in METHODS
    # The choice is made from the fold's training pairs alone: it is the same for a context
    # built from them, whatever was held out, and it is one of the grid's settings, seeded.
    fold = folds(LOOO, coops)[0]
    ctx = fold_context(orgs, fold, vectors, tax)
    choice = nested_choice(ctx, negatives=4, seed=0)
    assert choice in NESTED_GRID
    assert nested_choice(FeatureContext.build(orgs, fold.train, vectors, tax), negatives=4, seed=0) == choice
    held = {p for p in fold.heldout}
    assert not any(c.pair in held for c in ctx.cooperations)


def test_the_nested_ranker_falls_back_to_the_defaults_without_pairs_to_choose_on(data):
    from matcher.ranker import DEFAULT_C, DEFAULT_COLD_START

    orgs, coops, vectors, tax = data
    ctx = FeatureContext.build(orgs, coops[:1], vectors, tax)
    assert nested_choice(ctx, negatives=4, seed=0) == (DEFAULT_C, DEFAULT_COLD_START)
