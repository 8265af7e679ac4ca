"""Calibrated probabilities: the Platt map, the reliability table, and leak-free fitting data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from matcher.calibration import (Calibration, cross_fitted, fit_calibration, log_odds, out_of_fold_scores,
                                 reliability)
from matcher.errors import NotTrained
from matcher.features import FeatureContext
from matcher.ranker import fit_ranker
from matcher.taxonomy import load_taxonomy
from tests import ranker_fixtures as fx


def test_platt_map_recovers_known_parameters():
    rng = np.random.default_rng(0)
    x = rng.normal(-4.0, 2.0, 200_000)
    labels = rng.random(len(x)) < expit(0.7 * x + 0.5)
    cal = fit_calibration(expit(x), labels.astype(int))
    assert cal.slope == pytest.approx(0.7, abs=0.03)
    assert cal.intercept == pytest.approx(0.5, abs=0.1)
    assert cal.positives == int(labels.sum()) and cal.pairs == len(x)


def test_calibrated_probabilities_keep_the_order_of_scores():
    rng = np.random.default_rng(1)
    p = rng.random(5000) ** 3
    labels = (rng.random(5000) < p).astype(int)
    cal = fit_calibration(p, labels)
    order = np.argsort(p)
    assert np.all(np.diff(cal(p)[order]) >= 0)


def test_calibration_round_trips_and_refuses_unreadable_data():
    cal = Calibration(0.8, -1.5, 100, 7, 5)
    assert Calibration.from_dict(cal.to_dict()) == cal
    for bad in ({}, {"method": "isotonic"}, {"method": "platt", "slope": "x"}, None,
                {**cal.to_dict(), "slope": float("nan")}):
        with pytest.raises(NotTrained):
            Calibration.from_dict(bad)


def test_fit_needs_both_labels():
    with pytest.raises(NotTrained, match="both"):
        fit_calibration(np.array([0.1, 0.2]), np.array([0, 0]))


def test_reliability_table_by_hand():
    p = np.array([0.0005, 0.0005, 0.05, 0.05, 0.05, 0.5])
    y = np.array([0, 0, 1, 0, 0, 1])
    rel = reliability(p, y)
    assert [(b["low"], b["pairs"], b["positives"]) for b in rel.bins] == [(0.0, 2, 0), (0.03, 3, 1), (0.3, 1, 1)]
    assert rel.bins[1]["observed"] == pytest.approx(1 / 3)
    assert rel.brier == pytest.approx(np.mean((p - y) ** 2))
    base = y.mean()
    assert rel.brier_base_rate == pytest.approx(np.mean((base - y) ** 2))
    expected_ece = (2 * 0.0005 + 3 * abs(1 / 3 - 0.05) + 1 * 0.5) / 6
    assert rel.ece == pytest.approx(expected_ece)
    assert "Brier" in rel.format() and "| 0.03–0.1 | 3 | 1 |" in rel.format()


def test_reliability_refuses_misaligned_input():
    with pytest.raises(ValueError):
        reliability(np.array([0.1, 0.2]), np.array([1]))


def test_cross_fitting_never_uses_a_groups_own_labels():
    rng = np.random.default_rng(2)
    p = rng.random(3000)
    y = (rng.random(3000) < p / 4).astype(int)
    groups = np.arange(3000) % 3
    first = cross_fitted(p, y, groups)
    flipped = y.copy()
    flipped[groups == 0] = 1 - flipped[groups == 0]
    second = cross_fitted(p, flipped, groups)
    assert np.array_equal(first[groups == 0], second[groups == 0])
    assert not np.allclose(first[groups == 1], second[groups == 1])


def test_out_of_fold_scores_hold_every_party_out_of_its_ranker():
    orgs = fx.organisations()
    ctx = FeatureContext.build(orgs, fx.cooperations(), fx.vectors(orgs), load_taxonomy())
    seen: list[FeatureContext] = []

    def fit(sub: FeatureContext):
        seen.append(sub)
        return fit_ranker(sub, negatives=4)

    oof = out_of_fold_scores(ctx, fit, folds=3, seed=0)
    assert len(seen) == 3
    assert np.all((oof.probabilities >= 0) & (oof.probabilities <= 1))
    scored = {(ctx.eu_ids[e], ctx.mx_ids[m]) for e, m in zip(oof.eu_rows, oof.mx_rows)}
    documented = {c.pair for c in ctx.cooperations}
    assert documented <= scored, "every documented pair is scored"
    for g, e, m, label in zip(oof.groups, oof.eu_rows, oof.mx_rows, oof.labels):
        pair = (ctx.eu_ids[e], ctx.mx_ids[m])
        assert label == (pair in documented)
        # The ranker that scored a pair never trained on any cooperation of either party's fold.
        assert pair not in {c.pair for c in seen[g].cooperations}


def test_log_odds_are_finite_at_the_ends():
    assert np.all(np.isfinite(log_odds(np.array([0.0, 1.0, 0.5]))))
