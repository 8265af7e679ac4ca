"""The Suggester over a real registry (SQLite) with the keyword encoder, and the CLI commands."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from matcher.embeddings import KeywordEncoder
from matcher.errors import InvalidProfile, NotTrained, UnknownOrganisation, UnknownSector
from matcher.profiles import Cooperation, CooperationType, Organisation, OrgType, Side
from matcher.store.registry import Registry
from matcher.store.models import ModelStore
from matcher.settings import Settings
from matcher.features import fits
from matcher.ranking import Suggester, SuggestionList
from matcher.ranking.selection import mmr
from matcher.taxonomy import infer_sectors, load_taxonomy
from matcher.text import profile_text
from tests import ranker_fixtures as fx


def _registry(home: Path) -> Registry:
    # These tests check ranking mechanics over every candidate; the fit rule has its own test.
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'c2c.db'}", require_fit=False)
    reg = Registry.open(settings, init=False)
    reg.init(seed=False)
    reg.import_records(fx.organisations(), fx.cooperations())
    return reg


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A read-only registry and suggester shared by the tests that do not write."""
    reg = _registry(tmp_path_factory.mktemp("suggest"))
    yield Suggester(reg, reg.settings, encoder=fx.encoder(), min_probability=0.0)
    reg.close()


@pytest.fixture
def fresh(tmp_path):
    """A registry and suggester of this test's own (for tests that write)."""
    reg = _registry(tmp_path)
    yield reg, Suggester(reg, reg.settings, encoder=fx.encoder(), min_probability=0.0)
    reg.close()


def ids(result: SuggestionList) -> list[str]:
    return [s.id for s in result.items]


# ---------------------------------------------------------------------- basics
def test_suggestions_come_from_the_counterpart_side(shared):
    eu = shared.suggest("eu-wind", k=6)
    assert eu.query.side is Side.EU and len(eu.items) == 6
    assert all(s.side is Side.MX for s in eu.items)
    mx = shared.suggest("mx-aero", k=6)
    assert all(s.side is Side.EU for s in mx.items)
    assert [s.rank for s in mx.items] == list(range(1, 7))
    # ordered by the (calibrated) pair probability; the reciprocal score is shown beside it
    probabilities = [s.probability for s in mx.items]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0 <= s.score <= 1 and 0 <= s.probability <= 1 for s in mx.items)


def test_reference_by_name_and_unknown_references(shared):
    assert shared.suggest("Eu Wind", k=3).query.id == "eu-wind"
    with pytest.raises(UnknownOrganisation):
        shared.suggest("no such cluster")
    with pytest.raises(InvalidProfile) as err:
        shared.suggest("eu-wind", k=0)
    assert err.value.field == "k"


def test_the_most_plausible_partner_ranks_first(shared):
    # The wind cluster declares interest in renewables: the Mexican wind and solar association
    # (shared sector, declared interest) or the energy cluster must lead, food must trail.
    result = shared.suggest("eu-wind", k=6)
    assert ids(result)[0] in {"mx-wind", "mx-energy"}
    assert ids(result).index("mx-food") > 1


def test_sector_filter_matches_descendants(shared):
    result = shared.suggest("eu-wind", k=6, sector="energy")
    assert set(ids(result)) == {"mx-energy", "mx-wind"}
    aero = shared.suggest("eu-aero", k=6, sector="aerospace")
    assert set(ids(aero)) == {"mx-aero", "mx-aero-school"}  # mro sits below aerospace
    with pytest.raises(UnknownSector):
        shared.suggest("eu-wind", sector="underwater basket weaving")


def test_country_and_type_filters(shared):
    result = shared.suggest("mx-aero", k=6, country="de")
    assert ids(result) and all(s.country == "DE" for s in result.items)
    assert set(ids(result)) == {"eu-solar", "eu-auto"}
    assoc = shared.suggest("eu-wind", k=6, type="industry_association")
    assert ids(assoc) == ["mx-wind"]
    assert ids(shared.suggest("eu-wind", k=6, type=OrgType.EDUCATION_RESEARCH)) == ["mx-aero-school"]
    with pytest.raises(InvalidProfile) as err:
        shared.suggest("eu-wind", type="spaceship")
    assert err.value.field == "type"


def test_a_closed_organisation_is_never_suggested_but_keeps_its_own_list(fresh):
    reg, sg = fresh
    assert "mx-aero" in ids(sg.suggest("eu-aero", k=6))
    profile = fx.org("prospect-aero", Side.EU, ["aerospace"], "aerospace cluster", country="IT")
    assert "mx-aero" in ids(sg.suggest_for_profile(profile, k=6))
    reg.update("mx-aero", {"facts": {"closed": 2019}})
    assert "mx-aero" not in ids(sg.suggest("eu-aero", k=6))
    assert "mx-aero" not in ids(sg.suggest_for_profile(profile, k=6))
    assert "mx-aero" not in ids(sg.suggest("eu-aero", k=6, exclude_existing=True))
    own = sg.suggest("mx-aero", k=6)  # its history stays: it can still be looked up and asked for
    assert ids(own) and own.note.startswith("Mx Aero closed in 2019; it is not suggested to others")
    assert "closed" not in (sg.suggest("eu-aero", k=6).note or "")
    assert reg.get("mx-aero").facts.closed == 2019


def test_exclude_existing_drops_current_partners(shared):
    everything = ids(shared.suggest("eu-aero", k=6))
    assert {"mx-aero", "mx-aero-school"} <= set(everything)
    excluded = ids(shared.suggest("eu-aero", k=6, exclude_existing=True))
    assert not {"mx-aero", "mx-aero-school"} & set(excluded)
    assert excluded == [i for i in everything if i not in {"mx-aero", "mx-aero-school"}]
    flags = {s.id: s.explanation.already_cooperating for s in shared.suggest("eu-aero", k=6).items}
    assert flags["mx-aero"] and flags["mx-aero-school"] and not flags["mx-food"]


def test_mmr_by_hand():
    # items 0 and 1 are identical and best; 2 is a little weaker but different.
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    relevance = np.array([0.9, 0.89, 0.8])
    assert mmr(np.array([0, 1, 2]), relevance, vectors, k=2).tolist() == [0, 2, 1]
    assert mmr(np.array([0, 1, 2]), relevance, np.eye(3), k=3).tolist() == [0, 1, 2]


def test_diversify_avoids_near_identical_suggestions(fresh):
    reg, sg = fresh
    wind = reg.get("mx-wind")
    for i in (2, 3):
        reg.create(wind.model_copy(update={"id": f"mx-wind-{i}", "name": f"Mx Wind {i}", "aliases": [], "acronym": None}))
    copies = {"mx-wind", "mx-wind-2", "mx-wind-3"}
    plain = ids(sg.suggest("eu-wind", k=3))
    assert len(copies & set(plain)) >= 2  # near-identical profiles crowd the top
    diverse = ids(sg.suggest("eu-wind", k=3, diversify=True))
    assert diverse[0] == plain[0] and len(diverse) == 3
    assert len(copies & set(diverse)) < len(copies & set(plain))


def test_explanations_name_sectors_reasons_and_a_precedent(shared):
    result = shared.suggest("eu-wind", k=6)
    wind = next(s for s in result.items if s.id == "mx-wind")
    ex = wind.explanation
    assert ex.shared_sectors == ["Wind power"]
    assert "Solar energy and photovoltaics" in ex.complementary_sectors
    assert 1 <= len(ex.top_features) <= 3
    assert all(r.contribution > 0 and r.text for r in ex.top_features)
    contributions = [r.contribution for r in ex.top_features]
    assert contributions == sorted(contributions, reverse=True)
    assert ex.precedent is not None and ex.precedent.text.startswith("like ")
    assert ex.summary
    # the precedent is never the pair itself
    energy = next(s for s in result.items if s.id == "mx-energy")
    assert (energy.explanation.precedent.eu, energy.explanation.precedent.mx) != ("eu-wind", "mx-energy")
    # features that only describe the asking side are not offered as reasons
    assert not any(r.feature.startswith("eu_") for s in result.items for r in s.explanation.top_features)


def test_nothing_scoring_well_is_said_not_padded(shared):
    strict = Suggester(shared.registry, shared.settings, encoder=fx.encoder(), min_probability=0.999)
    result = strict.suggest("eu-soft", k=5)
    assert result.items == []
    assert "no candidate scores well" in result.note
    probs = shared.suggest("eu-wind", k=6)
    floor = sorted(s.probability for s in probs.items)[-2]
    partial = Suggester(shared.registry, shared.settings, encoder=fx.encoder(), min_probability=floor)
    some = partial.suggest("eu-wind", k=5)
    assert 1 <= len(some.items) < 5 and some.note.startswith(f"only {len(some.items)}")
    assert shared.suggest("eu-wind", k=5).note is None
    assert "no organisation" in shared.suggest("eu-wind", country="IT").note


def test_default_threshold_is_a_low_quantile_of_the_documented_pairs(shared):
    default = Suggester(shared.registry, shared.settings, encoder=fx.encoder())
    result = default.suggest("eu-wind", k=6)
    state = default._current()
    documented = np.sort(state.prob[state.ctx.adjacency.toarray()])
    assert documented[0] <= default.min_probability <= documented[1]  # 5% of 6 pairs: between the two lowest
    assert all(s.probability >= default.min_probability for s in result.items)
    assert default.model_card()["min_probability"] == default.min_probability


# ---------------------------------------------------------------------- unsaved profiles and pair scores
def test_suggest_for_an_unsaved_profile(shared):
    profile = Organisation(id="new-wind", name="New Wind Cluster", side=Side.EU, country="DK", type=OrgType.CLUSTER,
                           sectors=["wind"], description="wind energy")
    result = shared.suggest_for_profile(profile, k=3)
    assert result.query.id is None and result.query.name == "New Wind Cluster"
    assert all(s.side is Side.MX for s in result.items)
    assert ids(result)[0] in {"mx-wind", "mx-energy"}
    energy_only = shared.suggest_for_profile(profile, k=6, sector="energy")
    assert set(ids(energy_only)) == {"mx-wind", "mx-energy"}


def test_score_pairs_reads_the_reciprocal_matrix(shared, tmp_path):
    orgs = {o.id: o for o in shared.registry.all_organisations()}
    eu = [orgs["eu-wind"], orgs["eu-aero"]]
    mx = [orgs["mx-energy"], orgs["mx-aero"], orgs["mx-food"]]
    scores = shared.score_pairs(eu, mx)
    state = shared._current()
    assert scores.shape == (2, 3)
    e = [state.ctx.position(o.id)[1] for o in eu]
    m = [state.ctx.position(o.id)[1] for o in mx]
    np.testing.assert_array_equal(scores, state.recip[np.ix_(e, m)])
    newcomer = Organisation(id="mx-new-wind", name="Nuevo Viento", side=Side.MX, country="MX", type=OrgType.CLUSTER,
                            sectors=["wind"], description="wind energy")
    mixed = shared.score_pairs(eu, [newcomer, orgs["mx-food"]])
    assert mixed.shape == (2, 2) and np.isfinite(mixed).all() and (mixed >= 0).all() and (mixed <= 1).all()
    assert mixed[0, 0] > mixed[0, 1]  # a wind newcomer suits the wind cluster better than food
    with pytest.raises(InvalidProfile):
        shared.score_pairs(mx, eu)


# ---------------------------------------------------------------------- lifecycle
def test_index_follows_registry_writes(fresh, caplog):
    reg, sg = fresh
    with caplog.at_level(logging.INFO):
        before = sg.suggest("eu-wind", k=6)
    assert "rebuilt vector index" in caplog.text  # first use builds the missing index, with a log line
    assert "mx-new-wind" not in ids(before)
    reg.create(Organisation(id="mx-new-wind", name="Nuevo Viento", side=Side.MX, country="MX", type=OrgType.CLUSTER,
                            sectors=["wind"], description="wind energy", sources=fx.SRC))
    assert "mx-new-wind" in sg._index  # added at once, before any suggestion call
    after = sg.suggest("eu-wind", k=7)
    assert "mx-new-wind" in ids(after)
    assert set(ids(sg.suggest("eu-wind", k=7, sector="wind"))) == {"mx-wind", "mx-new-wind"}
    reg.update("mx-new-wind", {"sectors": ["mining"], "description": "mining"})
    assert "mx-new-wind" not in ids(sg.suggest("eu-wind", k=7, sector="wind"))
    assert sg._index.meta("mx-new-wind").sectors == ("mining",)
    reg.delete("mx-new-wind")
    assert "mx-new-wind" not in sg._index
    assert "mx-new-wind" not in ids(sg.suggest("eu-wind", k=7))


def test_new_cooperations_are_picked_up_at_once(fresh):
    reg, _ = fresh  # a long interval: the registry's callback is what makes the write visible
    sg = Suggester(reg, reg.settings.model_copy(update={"data_version_ttl_s": 3600.0}), encoder=fx.encoder(),
                   min_probability=0.0)
    assert not next(s for s in sg.suggest("eu-soft", k=6).items if s.id == "mx-food").explanation.already_cooperating
    reg.add_cooperation(Cooperation(id="c9", eu="eu-soft", mx="mx-food", type=CooperationType.INFORMATION, sources=fx.SRC))
    assert next(s for s in sg.suggest("eu-soft", k=6).items if s.id == "mx-food").explanation.already_cooperating
    assert "mx-food" not in ids(sg.suggest("eu-soft", k=6, exclude_existing=True))


def test_ranker_is_trained_saved_and_reloaded(fresh):
    reg, sg = fresh
    sg.suggest("eu-wind", k=3)
    stored = ModelStore(reg.store)
    saved = json.loads(stored.load(reg.settings.ranker_name)[0])
    assert saved["training_pairs"] == 6 and saved["data_version"] == reg.data_version()
    assert saved["calibration"]["method"] == "platt" and saved["calibration"]["positives"] >= 6
    other = Suggester(reg, reg.settings, encoder=fx.encoder(), min_probability=0.0)
    assert other.suggest("eu-wind", k=6).model_dump() == sg.suggest("eu-wind", k=6).model_dump()
    assert other._meta["trained_at"] == saved["trained_at"]  # loaded, not retrained
    other_encoder = Suggester(reg, reg.settings, encoder=KeywordEncoder(["wind", "aerospace"]), min_probability=0.0)
    other_encoder.suggest("eu-wind", k=3)  # a ranker fitted on other embeddings is not reused
    assert json.loads(stored.load(reg.settings.ranker_name)[0])["encoder"] == other_encoder.encoder.name
    summary = sg.train()
    assert summary["training_pairs"] == 6 and set(summary["coefficients"]) == set(saved["feature_names"])
    card = sg.model_card()
    assert card["training_pairs"] == 6 and card["organisations"] == {"EU": 6, "MX": 6}
    assert set(card["features"]) == set(saved["feature_names"])
    assert card["calibration"]["method"] == "platt"


def test_a_retrain_by_another_server_is_served_on_the_next_request(fresh):
    reg, sg = fresh
    before = sg.suggest("eu-wind", k=3)
    other = Suggester(reg, reg.settings, encoder=fx.encoder(), min_probability=0.0)
    version = ModelStore(reg.store).version(reg.settings.ranker_name)
    other.train()
    assert ModelStore(reg.store).version(reg.settings.ranker_name) == version + 1
    after = sg.suggest("eu-wind", k=3)
    assert sg._meta["trained_at"] == other._meta["trained_at"]
    assert after._results_version != before._results_version  # the new model's scores, not the old ones


def test_shown_probabilities_are_calibrated_and_follow_the_order(fresh):
    reg, sg = fresh
    items = sg.suggest("eu-wind", k=6).items
    probs = [i.probability for i in items]
    assert all(p is not None and 0.0 <= p <= 1.0 for p in probs)
    assert probs == sorted(probs, reverse=True)
    calibration = sg._ranker.calibration
    assert calibration is not None and calibration.slope > 0


def test_infer_sectors_from_text():
    tax = load_taxonomy()
    assert infer_sectors("We build wind turbines and solar power plants", tax) == ["solar", "wind"]
    assert infer_sectors("energy and wind farms", tax) == ["wind"]  # the more specific sector wins
    assert "aerospace" in infer_sectors("Clúster aeroespacial de Sonora", tax)
    assert infer_sectors("nothing to see", tax) == []


# ---------------------------------------------------------------------- CLI
@pytest.fixture
def cli_home(tmp_path, monkeypatch):
    reg = _registry(tmp_path)
    reg.close()
    monkeypatch.setenv("C2C_HOME", str(tmp_path))
    monkeypatch.setenv("C2C_DATABASE_URL", f"sqlite:///{tmp_path / 'c2c.db'}")
    # The command's plumbing is under test here, not where the ranker draws its line.
    monkeypatch.setenv("C2C_MIN_PROBABILITY", "0")
    monkeypatch.setenv("C2C_REQUIRE_FIT", "false")
    monkeypatch.setattr("matcher.ranking.suggester.get_encoder", lambda settings=None: fx.encoder())
    monkeypatch.setattr("matcher.embeddings.get_encoder", lambda settings=None: fx.encoder())
    return tmp_path


def run_cli(args, capsys):
    from matcher.cli import main

    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_suggest_table_and_json(cli_home, capsys):
    code, out, _ = run_cli(["suggest", "Eu Wind", "-k", "3"], capsys)
    assert code == 0 and "Suggestions for Eu Wind" in out and "rank" in out
    code, out, _ = run_cli(["suggest", "eu-aero", "-k", "4", "--exclude-existing", "--format", "json"], capsys)
    payload = json.loads(out)
    assert code == 0 and payload["query"]["id"] == "eu-aero"
    assert all(item["side"] == "MX" and item["id"] not in {"mx-aero", "mx-aero-school"} for item in payload["items"])
    code, out, _ = run_cli(["suggest", "eu-wind", "--sector", "energy", "--format", "json"], capsys)
    assert {i["id"] for i in json.loads(out)["items"]} <= {"mx-energy", "mx-wind"}


def test_cli_suggest_for_text_and_errors(cli_home, capsys):
    code, out, _ = run_cli(["suggest", "--text", "wind energy cluster", "--side", "EU", "--sector", "wind",
                            "--name", "Test Wind", "--format", "json"], capsys)
    payload = json.loads(out)
    assert code == 0 and payload["query"]["name"] == "Test Wind" and payload["query"]["id"] is None
    assert all(i["side"] == "MX" for i in payload["items"])
    code, _, err = run_cli(["suggest", "--text", "wind energy"], capsys)
    assert code == 1 and "side" in err
    code, _, err = run_cli(["suggest", "nobody-at-all"], capsys)
    assert code == 1 and "no organisation matches" in err


def test_cli_train_and_evaluate(cli_home, capsys, tmp_path):
    code, out, _ = run_cli(["train", "--out", str(tmp_path / "export")], capsys)
    assert code == 0 and "trained on 6 documented pairs" in out and "calibration: fitted on" in out
    exported = json.loads((tmp_path / "export" / "ranker.json").read_text())
    assert exported["kind"] == "PairRanker" and exported["training_pairs"] == 6
    code, out, err = run_cli(["evaluate", "--bootstrap", "50", "--out", str(tmp_path / "eval"), "--format", "json"], capsys)
    assert code == 0
    payload = json.loads(out)
    assert set(payload["protocols"]) == {"leave-one-pair-out", "leave-one-organisation-out"}
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == ["ranks.csv", "results.json", "results.md"]


# ---------------------------------------------------------------------- the real model on the shipped data
@pytest.mark.model
def test_basque_energy_cluster_gets_mexican_energy_partners(tmp_path):
    from matcher.embeddings import encoder_for

    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'c2c.db'}")
    tax = load_taxonomy()
    with Registry.open(settings) as reg:  # seeds the shipped dataset
        sg = Suggester(reg, settings, encoder=encoder_for(settings.model_path))
        result = sg.suggest("Basque Energy Cluster", k=10)
        assert result.query.side is Side.EU and len(result.items) >= 5
        assert all(s.side is Side.MX and s.country == "MX" for s in result.items)
        for item in result.items[:3]:
            assert any(tax.root(sector) == "energy" for sector in item.sectors), item
        energy_share = np.mean([any(tax.root(x) == "energy" for x in s.sectors) for s in result.items])
        assert energy_share >= 0.7
        for item in result.items:
            assert item.explanation.summary and item.explanation.top_features
            assert item.explanation.precedent is not None
        fresh_partners = sg.suggest("Basque Energy Cluster", k=5, exclude_existing=True)
        documented = {c.mx for c in reg.list_cooperations("basque-energy-cluster")}
        assert not documented & {s.id for s in fresh_partners.items}


def test_large_registries_take_candidates_from_the_index(shared):
    pooled = Suggester(shared.registry, shared.settings, encoder=fx.encoder(), min_probability=0.0, candidate_pool=5)
    for kwargs in ({"sector": "energy"}, {"sector": "aerospace"}, {"country": "MX", "type": "cluster_organisation"}):
        small = {s.id for s in pooled.suggest("eu-wind", k=6, **kwargs).items}
        exhaustive = {s.id for s in shared.suggest("eu-wind", k=6, **kwargs).items}
        assert small == exhaustive, kwargs  # fewer matches than the pool: the same set either way
    result = pooled.suggest("eu-aero", k=6)
    assert len(result.items) == 5  # only the 5 nearest of 6 Mexican profiles are ranked
    state = pooled._current()
    sims = state.ctx.mx.vectors @ state.ctx.eu.vectors[state.ctx.position("eu-aero")[1]]
    left_out = set(state.ctx.mx_ids) - {s.id for s in result.items}
    assert len(left_out) == 1
    assert sims[state.ctx.position(left_out.pop())[1]] == sims.min()  # the least similar profile (ties aside)


def test_data_version_is_read_at_most_once_per_interval(fresh, monkeypatch):
    reg, _ = fresh
    sg = Suggester(reg, reg.settings.model_copy(update={"data_version_ttl_s": 3600.0}), encoder=fx.encoder(),
                   min_probability=0.0)
    sg.suggest("eu-wind", k=3)
    calls = []
    original = reg.data_version
    monkeypatch.setattr(reg, "data_version", lambda: calls.append(1) or original())
    for _ in range(20):
        sg.suggest("eu-wind", k=3, sector="energy")
    assert calls == []
    reg.update("mx-food", {"description": "food and wind cluster"})  # a write through the registry: seen at once
    assert sg.suggest("eu-wind", k=6).data_version == original()


def test_min_probability_setting_overrides_the_learned_threshold(fresh):
    reg, _ = fresh
    learned = Suggester(reg, reg.settings, encoder=fx.encoder())
    fixed = Suggester(reg, reg.settings.model_copy(update={"min_probability": 0.999}), encoder=fx.encoder())
    assert fixed.min_probability == 0.999 != learned.min_probability
    result = fixed.suggest("eu-wind", k=5)
    assert result.items == [] and "0.999" in result.note


def test_unsaved_profiles_leave_the_disk_cache_unchanged(tmp_path):
    from matcher.embeddings import CachedEncoder

    reg = _registry(tmp_path)
    try:
        cache = tmp_path / "embedding-cache"
        sg = Suggester(reg, reg.settings, encoder=CachedEncoder(fx.encoder(), cache_dir=cache), min_probability=0.0)
        sg.suggest("eu-wind", k=3)
        before = {p.name: p.read_bytes() for p in sorted(cache.rglob("*")) if p.is_file()}
        for i in range(50):
            profile = fx.org(f"prospect-{i}", Side.MX if i % 2 else Side.EU, ["wind"], f"wind energy prospect {i}")
            assert sg.suggest_for_profile(profile, k=3).items
        assert any(name.endswith(".npy") for name in before)  # the registered profiles were cached
        after = {p.name: p.read_bytes() for p in sorted(cache.rglob("*")) if p.is_file()}
        assert after == before
    finally:
        reg.close()


def test_warm_up_loads_the_model_before_any_request(tmp_path):
    """A server calls warm_up at start-up, so the first unsaved-profile request does not load the model."""
    class CountingEncoder:
        name, dim = "counting", 3

        def __init__(self):
            self.calls = 0

        def encode(self, texts, show_progress_bar=False):
            self.calls += 1
            return np.tile(np.array([[1.0, 0.0, 0.0]], dtype=np.float32), (len(texts), 1))

    encoder = CountingEncoder()
    suggester = Suggester.__new__(Suggester)
    suggester._encoder = encoder
    suggester._current = lambda: None
    suggester.taxonomy, suggester._sectors = load_taxonomy(), None
    suggester.warm_up()
    assert encoder.calls == 1  # the sector prototypes, in one batch: the model is loaded
    calls = encoder.calls
    suggester.read_sectors("Clúster minero")
    assert encoder.calls == calls + 1  # the prototypes are kept; only the text is encoded


def test_a_list_runs_out_where_the_fit_runs_out(tmp_path):
    """With the fit rule on, a candidate that shares no top-level sector, no declared interest and
    no profile content with the query is never suggested, and the note says the list is short."""
    reg = _registry(tmp_path)
    try:
        strict = Suggester(reg, reg.settings, encoder=fx.encoder(), min_probability=0.0, require_fit=True)
        loose = Suggester(reg, reg.settings, encoder=fx.encoder(), min_probability=0.0, require_fit=False)
        profile = fx.org("prospect-mine", Side.EU, ["mining"], "underground mining equipment and mine safety")
        result = strict.suggest_for_profile(profile, k=6)
        assert len(result.items) < len(loose.suggest_for_profile(profile, k=6).items)
        assert "not padded" in (result.note or "")
        state = strict._current()
        for item in result.items:
            row = state.ctx.position(item.id)[1]
            x = state.ctx.external(profile, strict.encoder.encode([profile_text(profile, strict.taxonomy)])[0],
                                   np.array([row]))
            assert fits(x)[0]
    finally:
        reg.close()


@pytest.mark.parametrize("emptied", [Side.EU, Side.MX])
def test_a_registry_with_one_side_empty_answers_with_a_note(tmp_path: Path, emptied: Side):
    """Deleting every profile of one side leaves a working service: empty lists with a plain note."""
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'c2c.db'}")
    with Registry.open(settings, init=False) as reg:
        reg.init(seed=False)
        reg.import_records(fx.organisations(), fx.cooperations())
        sg = Suggester(reg, settings, encoder=fx.encoder(), min_probability=0.0)
        sg.suggest("eu-wind", k=3)  # a ranker is trained while both sides exist
        gone = [o for o in fx.organisations() if o.side is emptied]
        left = [o for o in fx.organisations() if o.side is not emptied]
        for org in gone:
            reg.delete(org.id)
        listed = sg.suggest(left[0].id, k=5)
        assert listed.items == [] and listed.note == f"no {emptied.value} organisation is registered yet"
        unsaved = sg.suggest_for_profile(left[1].model_copy(update={"id": "probe"}), k=5)
        assert unsaved.items == [] and "registered yet" in unsaved.note
        # A profile of the emptied side still gets suggestions from the side that is left.
        other = sg.suggest_for_profile(gone[0].model_copy(update={"id": "probe"}), k=5)
        assert {s.side for s in other.items} <= {left[0].side}
        assert sg.model_card()["organisations"][emptied.value] == 0
        with pytest.raises(NotTrained):
            sg.train()  # nothing to learn from: a clear domain error, not a crash


def test_background_rebuild_serves_the_previous_version_until_the_new_one_is_ready(tmp_path: Path):
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'c2c.db'}", background_rebuild=True)
    with Registry.open(settings, init=False) as reg:
        reg.init(seed=False)
        reg.import_records(fx.organisations(), fx.cooperations())
        sg = Suggester(reg, settings, encoder=fx.encoder(), min_probability=0.0)
        try:
            before = sg.suggest("eu-wind", k=6)
            reg.create(fx.org("mx-wind-2", Side.MX, ["wind"], "wind energy park services"))
            during = sg.suggest("eu-wind", k=6)
            # Either still the previous version, or already the new one: never a half-built list.
            assert during._results_version in {before._results_version, sg._state.results_version}
            # The new organisation is asked for by id at once: that request waits for the new version.
            own = sg.suggest("mx-wind-2", k=3)
            assert own.query.id == "mx-wind-2"
            sg._refresher.join()
            after = sg.suggest("eu-wind", k=6)
            assert after.data_version == reg.data_version() != before.data_version
            assert "mx-wind-2" in {s.id for s in sg.suggest("eu-wind", k=10).items}
        finally:
            sg.close()
