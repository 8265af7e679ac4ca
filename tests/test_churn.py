"""Writes while the Suggester serves: what a rebuild after a write reuses must give exactly what
a rebuild from nothing gives, and writers and workers must not repeat each other's work."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from api.present import RenderedSuggestions
from matcher.dataset import load_dataset
from matcher.embeddings import CachedEncoder, KeywordEncoder
from matcher.features import fit_text_model, text_vectorizer
from matcher.profiles import Cooperation, CooperationType, Side
from matcher.ranking import Suggester
from matcher.settings import Settings
from matcher.store.engine import Store
from matcher.store.registry import Registry
from matcher.taxonomy import load_taxonomy
from matcher.text import profile_text
from tests import ranker_fixtures as fx


class CountingEncoder(KeywordEncoder):
    """The keyword encoder, counting the texts it encodes."""

    def __init__(self) -> None:
        super().__init__(fx.VOCABULARY)
        self.texts: list[str] = []

    def encode(self, texts: list[str], show_progress_bar: bool = False) -> np.ndarray:
        self.texts.extend(texts)
        return super().encode(texts)


def _registry(home: Path, **settings) -> Registry:
    reg = Registry.open(Settings(home=home, database_url=f"sqlite:///{home / 'c2c.db'}", **settings), init=False)
    reg.init(seed=False)
    reg.import_records(fx.organisations(), fx.cooperations())
    return reg


def _lists(sg: Suggester, ids: list[str]) -> dict[str, list[tuple[str, float, float | None]]]:
    return {i: [(s.id, s.score, s.probability) for s in sg.suggest(i, k=20).items] for i in ids}


def _writes(reg: Registry) -> None:
    """Creates on both sides, changes of text, sectors and facts, deletes and a new cooperation."""
    reg.create(fx.org("mx-wind-2", Side.MX, ["wind"], "wind energy park services"))
    reg.create(fx.org("eu-food", Side.EU, ["agrifood"], "food processing cluster", country="IT", members=30))
    reg.update("mx-food", {"description": "food and solar drying cluster"})
    reg.update("eu-soft", {"sectors": ["software", "aerospace"]})
    reg.create(fx.org("eu-mining", Side.EU, ["mining"], "mining equipment", country="PL"))
    reg.delete("mx-auto")
    reg.update("eu-wind", {"facts": {"members": 200}})
    reg.add_cooperation(Cooperation(id="c9", eu="eu-food", mx="mx-food", type=CooperationType.INFORMATION,
                                    sources=fx.SRC))
    reg.delete("eu-mro")


@pytest.mark.parametrize("background", [False, True])
def test_a_rebuild_after_writes_equals_a_rebuild_from_nothing(tmp_path: Path, background: bool):
    reg = _registry(tmp_path, background_rebuild=background)
    follower = Suggester(reg, reg.settings, encoder=fx.encoder(), min_probability=0.0)
    try:
        follower.suggest("eu-wind", k=5)
        for step in range(3):  # a rebuild after each round of writes, reusing what the last one read
            _writes(reg) if step == 0 else reg.update("mx-wind-2", {"description": f"wind park {step}"})
            follower.index  # waits for the state of the current data version
            fresh = Suggester(reg, reg.settings, encoder=fx.encoder(), min_probability=0.0)
            try:
                served, rebuilt = follower._current(wait=True), fresh._current(wait=True)
                assert served.version == rebuilt.version == reg.data_version()
                assert (served.ctx.eu_ids, served.ctx.mx_ids) == (rebuilt.ctx.eu_ids, rebuilt.ctx.mx_ids)
                assert np.array_equal(served.grid, rebuilt.grid, equal_nan=True)  # NaN: unknown history
                assert np.array_equal(served.prob, rebuilt.prob) and np.array_equal(served.recip, rebuilt.recip)
                ids = served.ctx.eu_ids + served.ctx.mx_ids
                assert _lists(follower, ids) == _lists(fresh, ids)
                assert sorted(follower._index.ids) == sorted(ids)
            finally:
                fresh.close()
        assert "mx-auto" not in served.ctx and "eu-food" in served.ctx
    finally:
        follower.close()
        reg.close()


@pytest.fixture
def serving(tmp_path: Path):
    """The test fixtures' registry and a Suggester on it with background rebuilds, every pair shown."""
    reg = _registry(tmp_path, background_rebuild=True)
    sg = Suggester(reg, reg.settings, encoder=fx.encoder(), min_probability=0.0, require_fit=False)
    try:
        yield reg, sg
    finally:
        sg.close()
        reg.close()


def test_a_deleted_organisation_is_never_shown_while_the_rebuild_runs(serving):
    reg, sg = serving
    assert "mx-wind" in {s.id for s in sg.suggest("eu-wind", k=10).items}
    with sg._lock:  # the background rebuild cannot finish meanwhile
        reg.delete("mx-wind")
        served = sg.suggest("eu-wind", k=10)
        assert served.data_version != reg.data_version()  # still the previous version
        assert "mx-wind" not in {s.id for s in served.items}
        assert [s.rank for s in served.items] == list(range(1, len(served.items) + 1))


def test_a_cached_list_of_the_previous_version_is_served_until_it_names_a_deleted_organisation(serving):
    """The API's rendered bodies outlive a write while the rebuild runs, never a deletion."""
    reg, sg = serving
    cache, computed = RenderedSuggestions(), []

    def compute():
        computed.append(1)
        return sg.suggest("eu-wind", k=10)

    def served() -> dict:
        return json.loads(cache.get_or_render("eu-wind", sg.results_version, compute, confirm=sg.all_registered))

    first, made_on = served(), sg.results_version()
    assert "mx-wind" in {s["id"] for s in first["items"]}
    with sg._lock:  # the background rebuild cannot finish meanwhile
        reg.create(fx.org("mx-wind-2", Side.MX, ["wind"], "wind energy park services"))
        assert served() == first and len(computed) == 1  # the previous version's body, not recomputed
        reg.delete("mx-wind")
        after = served()
        assert len(computed) == 2 and "mx-wind" not in {s["id"] for s in after["items"]}
    sg._refresher.join()
    # A body made on the previous version, confirmed just after the new one is served (a
    # request racing the rebuild), is still checked against the store.
    assert not sg.all_registered(made_on, ("eu-wind", "mx-wind"))
    fresh = served()
    assert fresh["data_version"] == reg.data_version() and len(computed) == 3
    assert sg.all_registered(sg.results_version(), ("eu-wind", "gone-long-ago"))  # current: no query


def test_a_write_request_leaves_encoding_to_the_background(tmp_path: Path):
    reg = _registry(tmp_path, background_rebuild=True)
    inner = CountingEncoder()
    encoder = CachedEncoder(inner, cache_dir=tmp_path / "embedding-cache")
    sg = Suggester(reg, reg.settings, encoder=encoder, min_probability=0.0)
    try:
        sg.suggest("eu-wind", k=3)
        reg.create(fx.org("mx-wind-2", Side.MX, ["wind"], "wind energy park services"))
        sg._indexes.close()  # waits for the profiles queued for encoding
        text = profile_text(reg.get("mx-wind-2"), reg.taxonomy)
        assert inner.texts.count(text) == 1
        own = sg.suggest("mx-wind-2", k=3)  # the rebuild finds the vector: nothing is encoded again
        assert own.query.id == "mx-wind-2" and inner.texts.count(text) == 1
    finally:
        sg.close()
        reg.close()


def test_processes_sharing_an_embedding_cache_encode_each_text_once(tmp_path: Path):
    first, second = CountingEncoder(), CountingEncoder()
    one = CachedEncoder(first, cache_dir=tmp_path, max_shards=2)
    other = CachedEncoder(second, cache_dir=tmp_path, max_shards=2)  # opened before the writes below
    texts = [f"wind energy cluster {i}" for i in range(6)]
    for text in texts:  # one shard per text, and compactions into a new base file
        one.encode([text])
    vectors = other.encode(texts)
    assert second.texts == [] and len(first.texts) == len(texts)
    np.testing.assert_array_equal(vectors, one.encode(texts))
    assert other.encode(["solar park"]).shape == (1, other.dim) and second.texts == ["solar park"]


def test_text_model_equals_scikit_learn_and_reuses_counted_texts():
    taxonomy = load_taxonomy()
    texts = [profile_text(o, taxonomy) for o in load_dataset().organisations[:200]]
    reference: TfidfVectorizer = text_vectorizer()
    expected = reference.fit_transform(texts)
    counted: dict = {}
    for round_texts in (texts[:150], texts):  # the second fit reuses the first one's counts
        vectorizer, rows = fit_text_model(round_texts, counted)
    assert set(counted) == set(texts)
    for name in ("indptr", "indices", "data"):  # bit for bit, in scikit-learn's order
        assert np.array_equal(getattr(rows, name), getattr(expected, name))
    assert vectorizer.vocabulary_ == reference.vocabulary_ and np.array_equal(vectorizer.idf_, reference.idf_)
    query = ["energía solar y eólica", "aerospace maintenance school"]
    assert np.array_equal(vectorizer.transform(query).toarray(), reference.transform(query).toarray())
    with pytest.raises(ValueError, match="empty vocabulary"):
        fit_text_model(["!", "?"])


def test_sqlite_writers_queue_on_a_lock_file(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'c2c.db'}")
    lock_file = tmp_path / "c2c.db-writer.lock"

    def free() -> bool:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    try:
        with store.write():
            assert not free()  # another process's writer waits here, not in SQLite's busy loop
        assert free()
        with pytest.raises(RuntimeError), store.write():
            raise RuntimeError("rolled back")
        assert free()
    finally:
        store.dispose()
    assert Store("sqlite://")._writers is None
