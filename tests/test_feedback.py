"""Users' verdicts on suggestions as a training signal (matcher.feedback and its uses)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from api_fixtures import COOPERATIONS, ORGANISATIONS, VOCABULARY, Api, api, key_header  # noqa: F401
from typer.testing import CliRunner

from matcher.store.models import ModelStore
from matcher.embeddings import KeywordEncoder
from matcher.features import FeatureContext
from matcher.feedback import VERDICT_ROWS, feedback_rows
from matcher.store.feedback import FeedbackStore
from matcher.store.registry import Registry
from matcher.settings import Settings
from matcher.ranking import Suggester
from matcher.taxonomy import load_taxonomy


@dataclass
class Verdict:
    id: int
    subject_id: str
    suggested_id: str
    verdict: str


@pytest.fixture(scope="module")
def ctx() -> FeatureContext:
    encoder = KeywordEncoder(VOCABULARY)
    taxonomy = load_taxonomy()
    vectors = encoder.encode([o.description or o.name for o in ORGANISATIONS])
    return FeatureContext.build(ORGANISATIONS, COOPERATIONS, vectors, taxonomy)


def test_each_verdict_maps_to_a_label_and_weight(ctx):
    pairs = [("aero-north", "agro-sur", "agreement_signed"), ("agro-sur", "wind-coast", "met"),
             ("soft-bay", "salud-golfo", "accepted"), ("med-lake", "auto-centro", "declined")]
    rows = feedback_rows(ctx, [Verdict(i, a, b, v) for i, (a, b, v) in enumerate(pairs, 1)])
    got = {}
    for e, m, label, weight in zip(rows.eu_rows, rows.mx_rows, rows.labels, rows.weights):
        got[(ctx.eu_ids[e], ctx.mx_ids[m])] = (int(label), float(weight))
    assert got == {("aero-north", "agro-sur"): VERDICT_ROWS["agreement_signed"],
                   ("wind-coast", "agro-sur"): VERDICT_ROWS["met"],  # given from the Mexican side
                   ("soft-bay", "salud-golfo"): VERDICT_ROWS["accepted"],
                   ("med-lake", "auto-centro"): VERDICT_ROWS["declined"]}
    assert (rows.positives, rows.negatives) == (3, 1)


def test_newest_verdict_wins_and_the_rest_is_ignored_with_a_reason(ctx):
    verdicts = [
        Verdict(1, "med-lake", "salud-golfo", "accepted"),
        Verdict(5, "salud-golfo", "med-lake", "declined"),  # newer, from the other side
        Verdict(2, "aero-north", "wind-coast", "met"),  # same side
        Verdict(3, "aero-north", "aero-bajio", "declined"),  # a documented cooperation
        Verdict(4, "ghost", "aero-bajio", "met"),  # no longer registered
    ]
    rows = feedback_rows(ctx, verdicts)
    assert len(rows) == 1 and rows.labels.tolist() == [0]
    assert (ctx.eu_ids[rows.eu_rows[0]], ctx.mx_ids[rows.mx_rows[0]]) == ("med-lake", "salud-golfo")
    assert rows.summary() == {"positives": 0, "negatives": 1, "ignored": {
        "same_side": 1, "documented_pair": 1, "unknown_organisation": 1, "superseded": 1}}


def test_unknown_verdict_is_an_error(ctx):
    with pytest.raises(ValueError, match="maybe"):
        feedback_rows(ctx, [Verdict(1, "med-lake", "salud-golfo", "maybe")])


def _registry(url: str, home: Path, **settings) -> tuple[Registry, Settings]:
    config = Settings(database_url=url, home=home, **settings)
    registry = Registry.open(config, init=False)
    registry.init(seed=False)
    registry.import_records(ORGANISATIONS, COOPERATIONS)
    return registry, config


def _probability(suggester: Suggester, eu: str, mx: str) -> float:
    """The ranker's probability for one registered pair (read from the precomputed matrix)."""
    state = suggester._current()
    return float(state.prob[state.ctx.position(eu)[1], state.ctx.position(mx)[1]])


def test_training_learns_from_verdicts(sqlite_url: str, tmp_path: Path):
    registry, config = _registry(sqlite_url, tmp_path)
    encoder = KeywordEncoder(VOCABULARY)
    try:
        plain = Suggester(registry, config.model_copy(update={"train_with_feedback": False,
                                                              "ranker_name": "plain"}), encoder=encoder)
        plain.train()
        FeedbackStore(registry.store).add("med-lake", "auto-centro", "agreement_signed")
        FeedbackStore(registry.store).add("agri-plain", "agro-sur", "declined")
        learned = Suggester(registry, config.model_copy(update={"ranker_name": "learned"}), encoder=encoder)
        summary = learned.train()
        assert summary["feedback"] == {"positives": 1, "negatives": 1, "ignored": {
            "same_side": 0, "documented_pair": 0, "unknown_organisation": 0, "superseded": 0}}
        assert summary["training_pairs"] == len(COOPERATIONS)  # documented pairs are counted apart
        assert _probability(learned, "med-lake", "auto-centro") > _probability(plain, "med-lake", "auto-centro")
        assert _probability(learned, "agri-plain", "agro-sur") < _probability(plain, "agri-plain", "agro-sur")
        assert plain.train()["feedback"] is None
        assert learned.model_card()["feedback"]["positives"] == 1
    finally:
        registry.close()


def test_retrain_over_http_reports_the_feedback_used(api: Api):
    body = {"org": "med-lake", "partner": "auto-centro", "verdict": "met"}
    assert api.client.post("/feedback", json=body, headers=api.write).status_code == 201
    response = api.client.post("/admin/retrain", headers=api.admin)
    assert response.status_code == 200, response.text
    assert response.json()["ranker"]["feedback"]["positives"] == 1
    assert api.client.get("/model").json()["ranker"]["feedback"]["positives"] == 1


def test_train_command_reports_feedback(tmp_path: Path, monkeypatch):
    from matcher.cli import app

    home = tmp_path / "home"
    monkeypatch.setenv("C2C_HOME", str(home))
    runner = CliRunner()
    home.mkdir()
    registry, _ = _registry(f"sqlite:///{home / 'c2c.db'}", home)
    FeedbackStore(registry.store).add("med-lake", "auto-centro", "met")
    FeedbackStore(registry.store).add("med-lake", "wind-coast", "met")
    registry.close()
    with monkeypatch.context() as m:
        m.setattr("matcher.ranking.suggester.get_encoder", lambda settings=None: KeywordEncoder(VOCABULARY))
        result = runner.invoke(app, ["train"])
        assert result.exit_code == 0, result.output
        assert "feedback: 1 positive and 0 negative pair(s) added; 1 verdict(s) ignored (same_side 1)" in result.output
        result = runner.invoke(app, ["train", "--no-feedback"])
        assert result.exit_code == 0, result.output
        assert "feedback: left out" in result.output
    registry = Registry.open(Settings(database_url=f"sqlite:///{home / 'c2c.db'}", home=home), init=False)
    try:
        meta = json.loads(ModelStore(registry.store).load("ranker")[0])
    finally:
        registry.close()
    assert meta["feedback"] is None and np.isfinite(meta["min_probability"])


def test_a_ranker_saved_by_another_process_is_loaded(sqlite_url: str, tmp_path: Path):
    """Two server workers share the stored ranker: a retrain in one reaches the other."""
    registry, config = _registry(sqlite_url, tmp_path, train_with_feedback=True)
    encoder = KeywordEncoder(VOCABULARY)
    try:
        worker_a = Suggester(registry, config, encoder=encoder)
        worker_b = Suggester(registry, config, encoder=encoder)
        before = _probability(worker_b, "med-lake", "auto-centro")
        version_b = worker_b.results_version()
        FeedbackStore(registry.store).add("med-lake", "auto-centro", "agreement_signed")  # feedback moves no data version
        worker_a.train()
        assert worker_b.results_version() != version_b
        after = _probability(worker_b, "med-lake", "auto-centro")
        assert after > before
        assert after == pytest.approx(_probability(worker_a, "med-lake", "auto-centro"))
        assert worker_b.model_card()["feedback"]["positives"] == 1
    finally:
        registry.close()
