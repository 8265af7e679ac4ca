"""The PairRanker estimator, its JSON persistence and the reciprocal score."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from matcher.errors import NotTrained
from matcher.features import FEATURE_NAMES, FeatureContext, monotone_constraints
from matcher.ranker import PairRanker, percentiles, ranker_from_payload, ranker_payload, reciprocal_scores
from matcher.taxonomy import load_taxonomy
from tests import ranker_fixtures as fx


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_check_estimator_passes():
    results = check_estimator(PairRanker(), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) > 40


def _data(seed: int = 0, n: int = 400):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    logit = 2.0 * X[:, 0] - 1.5 * X[:, 1]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_learns_the_direction_of_each_feature_and_returns_self():
    X, y = _data()
    model = PairRanker()
    assert model.fit(X, y) is model
    assert model.coef_[0] > 1 and model.coef_[1] < -0.8 and abs(model.coef_[2]) < 0.3
    assert (model.predict(X) == y).mean() > 0.75


def test_monotone_constraint_holds_a_coefficient_at_its_bound():
    X, y = _data()
    model = PairRanker(monotone=[0, 1, 0]).fit(X, y)
    assert model.coef_[1] == 0.0  # would be negative without the constraint
    assert model.coef_[0] > 1
    with pytest.raises(ValueError):
        PairRanker(monotone=[1, 1]).fit(X, y)


def test_contributions_add_up_to_the_decision_function():
    X, y = _data()
    model = PairRanker().fit(X, y)
    np.testing.assert_allclose(model.contributions(X).sum(1) + model.intercept_, model.decision_function(X))
    np.testing.assert_allclose(model.score_features(X[None, :5]), model.predict_proba(X[:5])[:, 1][None, :])


def test_a_missing_value_is_filled_with_its_weighted_training_mean_and_adds_nothing():
    X, y = _data()
    X[::4, 1] = np.nan  # unknown in a quarter of the rows
    w = np.where(np.arange(len(y)) % 2 == 0, 2.0, 1.0)
    model = PairRanker().fit(X, y, sample_weight=w)
    known = ~np.isnan(X[:, 1])
    assert model.fill_[1] == pytest.approx(np.average(X[known, 1], weights=w[known]))
    assert model.fill_[0] == pytest.approx(np.average(X[:, 0], weights=w))
    assert model.coef_[1] < -0.8  # still learned from the rows where it is known
    row = np.array([[0.3, np.nan, -0.2]])
    filled = np.array([[0.3, model.fill_[1], -0.2]])
    np.testing.assert_allclose(model.decision_function(row), model.decision_function(filled))
    np.testing.assert_allclose(model.score_features(row), model.score_features(filled))
    assert model.contributions(row)[0, 1] == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(model.predict_proba(row)).all()
    again = PairRanker.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(again.score_features(row), model.score_features(row))
    legacy = model.to_dict()
    del legacy["fill"]  # a document saved before missing values were filled reads them as 0
    np.testing.assert_array_equal(PairRanker.from_dict(legacy).fill_, np.zeros(3))


def test_weights_count_like_repeated_rows():
    X, y = _data(n=120)
    w = np.where(np.arange(120) % 3 == 0, 2.0, 1.0)
    weighted = PairRanker().fit(X, y, sample_weight=w)
    repeated = PairRanker().fit(np.vstack([X, X[w == 2]]), np.concatenate([y, y[w == 2]]))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-7, atol=1e-9)


def test_json_round_trip_gives_identical_predictions(tmp_path):
    orgs = fx.organisations()
    ctx = FeatureContext.build(orgs, fx.cooperations(), fx.vectors(orgs), load_taxonomy())
    X, y, w = ctx.training_data(4, 0)
    model = PairRanker(C=0.5, monotone=monotone_constraints()).fit(X, y, sample_weight=w)
    text = ranker_payload(model, FEATURE_NAMES, training_pairs=int(y.sum()), data_version="v7", extra={"base_rate": 0.1})
    payload = json.loads(text)  # plain JSON, nothing pickled
    assert payload["feature_names"] == list(FEATURE_NAMES)
    assert payload["training_pairs"] == 6 and payload["data_version"] == "v7"
    assert {"scikit-learn", "numpy", "matcher"} <= set(payload["versions"])
    loaded, meta = ranker_from_payload(text, FEATURE_NAMES)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.score_features(ctx.grid()), model.score_features(ctx.grid()))
    assert meta["base_rate"] == 0.1 and loaded.get_params() == model.get_params()


def test_loading_refuses_missing_corrupt_or_foreign_files(tmp_path):
    for bad in (None, "{not json", "[1, 2]", json.dumps({"format": 1, "kind": "Other"}),
                json.dumps({"format": 1, "kind": "PairRanker", "model": {"coef": "x"}})):
        with pytest.raises(NotTrained):
            ranker_from_payload(bad)
    X, y = _data()
    text = ranker_payload(PairRanker().fit(X, y), ["a", "b", "c"], training_pairs=3)
    assert ranker_from_payload(text, ["a", "b", "c"])[0].n_features_in_ == 3
    with pytest.raises(NotTrained):
        ranker_from_payload(text, ["a", "b", "d"])
    with pytest.raises(ValueError):
        ranker_payload(PairRanker().fit(X, y), ["a"], training_pairs=3)


def test_percentiles_and_reciprocal_score_by_hand():
    P = np.array([[0.9, 0.1], [0.8, 0.7]])
    np.testing.assert_allclose(percentiles(P, 1), [[1.0, 0.5], [1.0, 0.5]])
    np.testing.assert_allclose(percentiles(P, 0), [[1.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(reciprocal_scores(P), [[1.0, 0.5], [np.sqrt(0.5), np.sqrt(0.5)]])


def test_reciprocal_score_pulls_down_a_one_sided_match():
    # MX candidate 0 is everyone's favourite; for EU 1 it is the top probability but EU 1 is
    # the worst European for it, while MX 1 ranks EU 1 first.
    P = np.array([[0.9, 0.1, 0.2], [0.5, 0.45, 0.1], [0.8, 0.05, 0.3]])
    R = reciprocal_scores(P)
    assert P[1].argmax() == 0 and R[1].argmax() == 1
