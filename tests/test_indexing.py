"""The registry's side of the vector index (:mod:`matcher.indexing`): ensure_index, the
write-by-write sync, and encoding in chunks."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from index import IndexUnavailable, SearchFilters, VectorIndex
from index_fixtures import CountingEncoder, org, sample_profiles
from matcher.dataset import load_dataset
from matcher.embeddings import CachedEncoder
from matcher.errors import C2CError
from matcher.indexing import RegistrySync, encode_texts, ensure_index
from matcher.taxonomy import load_taxonomy
from matcher.text import normalise


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


# --------------------------------------------------------------------------- ensure_index
@pytest.fixture()
def profiles():
    return sample_profiles()


def ensure(tmp_path, profiles, encoder, taxonomy, version="v1", **kw):
    return ensure_index(tmp_path / "ix", profiles, encoder, taxonomy, version,
                        logging.getLogger("c2c.index"), hnsw_threshold=kw.pop("hnsw_threshold", 1000), **kw)


def test_ensure_index_builds_then_reuses(tmp_path, profiles, taxonomy, caplog):
    enc = CountingEncoder()
    with caplog.at_level(logging.INFO, logger="c2c.index"):
        idx = ensure(tmp_path, profiles, enc, taxonomy)
    assert len(idx) == 12 and len(enc.texts) == 12
    assert len(caplog.records) == 1 and "no saved index" in caplog.records[0].getMessage()
    caplog.clear()
    again_enc = CountingEncoder()
    with caplog.at_level(logging.INFO, logger="c2c.index"):
        again = ensure(tmp_path, profiles, again_enc, taxonomy, version="v2")
    assert again_enc.texts == [] and caplog.records == []
    assert again.search(idx.vector("eolica-oax"), 3) == idx.search(idx.vector("eolica-oax"), 3)
    mx_energy = again.search(idx.vector("eolica-cluster"), 3, SearchFilters(side="MX", sector="energy",
                                                                             taxonomy=taxonomy))
    assert {i for i, _ in mx_energy} == {"energia-nl", "eolica-oax"}


def test_corrupt_index_is_rebuilt_with_a_log_line(tmp_path, profiles, taxonomy, caplog):
    ensure(tmp_path, profiles, CountingEncoder(), taxonomy)
    (tmp_path / "ix" / "metadata.json").write_text('{"items": []}')
    with pytest.raises(IndexUnavailable):
        VectorIndex.load(tmp_path / "ix")
    with caplog.at_level(logging.INFO, logger="c2c.index"):
        idx = ensure(tmp_path, profiles, CountingEncoder(), taxonomy)
    assert len(caplog.records) == 1
    assert "rebuilt" in caplog.text and "checksum mismatch for metadata.json" in caplog.text
    assert len(idx) == 12 and len(VectorIndex.load(tmp_path / "ix")) == 12


def test_changed_description_reencodes_only_that_profile(tmp_path, profiles, taxonomy, caplog):
    ensure(tmp_path, profiles, CountingEncoder(), taxonomy)
    changed = [p.model_copy(update={"description": "Hydrogen and batteries."}) if p.id == "mobel-net" else p
               for p in profiles]
    enc = CountingEncoder()
    with caplog.at_level(logging.INFO, logger="c2c.index"):
        idx = ensure(tmp_path, changed, enc, taxonomy)
    assert len(enc.texts) == 1 and "Hydrogen and batteries." in enc.texts[0]
    assert "1 changed, 0 added, 0 removed" in caplog.text and len(caplog.records) == 1
    np.testing.assert_array_equal(idx.vector("mobel-net"), enc.encode([enc.texts[0]])[0])
    reloaded_enc = CountingEncoder()
    ensure(tmp_path, changed, reloaded_enc, taxonomy)
    assert reloaded_enc.texts == []


def test_added_removed_and_relabelled_profiles(tmp_path, profiles, taxonomy, caplog):
    ensure(tmp_path, profiles, CountingEncoder(), taxonomy)
    edited = [p for p in profiles if p.id != "aero-sud"]
    edited = [p.model_copy(update={"country": "PT"}) if p.id == "solar-valley" else p for p in edited]
    edited.append(org("hidro-sin", "MX", sectors=["hydropower"], description="Energía hidroeléctrica."))
    enc = CountingEncoder()
    with caplog.at_level(logging.INFO, logger="c2c.index"):
        idx = ensure(tmp_path, edited, enc, taxonomy)
    assert len(enc.texts) == 1 and "hidro-sin" in enc.texts[0].lower().replace(" ", "-")
    assert "0 changed, 1 added, 1 removed, 1 with changed metadata" in caplog.text
    assert "aero-sud" not in idx and idx.meta("solar-valley").country == "PT"
    assert [i for i, _ in idx.search(idx.vector("eolica-cluster"), 5, SearchFilters(country="PT"))] == ["solar-valley"]
    assert set(VectorIndex.load(tmp_path / "ix").ids) == {p.id for p in edited}


def test_other_model_triggers_rebuild(tmp_path, profiles, taxonomy, caplog):
    ensure(tmp_path, profiles, CountingEncoder(), taxonomy)
    other = CountingEncoder(["energy", "wind", "mueble"])
    with caplog.at_level(logging.INFO, logger="c2c.index"):
        idx = ensure(tmp_path, profiles, other, taxonomy)
    assert len(other.texts) == 12 and idx.model_name == other.name and idx.dim == 4
    assert "built with model" in caplog.text


def test_ensure_index_switches_kind_and_uses_the_cache(tmp_path, profiles, taxonomy, caplog):
    inner = CountingEncoder()
    cached = CachedEncoder(inner, cache_dir=tmp_path / "cache")
    ensure(tmp_path, profiles, cached, taxonomy)
    with caplog.at_level(logging.INFO, logger="c2c.index"):
        idx = ensure(tmp_path, profiles, cached, taxonomy, kind="hnsw")
    assert idx.kind == "hnsw" and "hnsw requested" in caplog.text and len(inner.texts) == 12
    (tmp_path / "ix" / "index.faiss").write_bytes(b"junk")
    ensure(tmp_path, profiles, CachedEncoder(CountingEncoder(), cache_dir=tmp_path / "cache"), taxonomy)
    assert len(inner.texts) == 12


def test_registry_sync_applies_events(tmp_path, profiles, taxonomy):
    enc = CountingEncoder()
    idx = ensure(tmp_path, profiles, enc, taxonomy)
    store = {p.id: p for p in profiles}
    sync = RegistrySync(idx, store.__getitem__, enc, taxonomy, save_to=tmp_path / "ix", data_version=lambda: "v9")
    store["bat-cluster"] = org("bat-cluster", "EU", "FI", ["electromobility"], "Batteries and hydrogen.")
    sync("created", "bat-cluster")
    store["auto-nord"] = store["auto-nord"].model_copy(update={"region": "Hauts-de-France"})
    before = len(enc.texts)
    sync("updated", "auto-nord")
    assert len(enc.texts) == before and idx.meta("auto-nord").region == "Hauts-de-France"
    sync("deleted", "mueble-jal")
    saved = VectorIndex.load(tmp_path / "ix")
    assert saved.data_version == "v9" and "bat-cluster" in saved and "mueble-jal" not in saved
    assert saved.meta("auto-nord").region == "Hauts-de-France"


def test_registry_sync_saves_a_burst_of_writes_once_after_the_delay(tmp_path, profiles, taxonomy, monkeypatch):
    enc = CountingEncoder()
    idx = ensure(tmp_path, profiles, enc, taxonomy)
    store = {p.id: p for p in profiles}
    saves: list[str | None] = []
    real_save = idx.save
    monkeypatch.setattr(idx, "save", lambda folder, data_version=None: (saves.append(data_version),
                                                                         real_save(folder, data_version=data_version)))
    sync = RegistrySync(idx, store.__getitem__, enc, taxonomy, save_to=tmp_path / "ix", data_version=lambda: "v10",
                        save_delay=30.0)
    for i in range(5):
        store[f"new-{i}"] = org(f"new-{i}", "EU", "FI", ["electromobility"], f"Batteries {i}.")
        sync("created", f"new-{i}")
    assert saves == []  # nothing written yet: the burst waits for one save
    assert "new-4" not in VectorIndex.load(tmp_path / "ix")
    sync.close()  # what a shutting-down server does: the pending save happens now
    assert saves == ["v10"]
    saved = VectorIndex.load(tmp_path / "ix")
    assert all(f"new-{i}" in saved for i in range(5)) and saved.data_version == "v10"
    sync.close()
    assert saves == ["v10"]  # nothing left to save


def test_encode_texts_in_chunks_with_progress(capsys):

    enc = CountingEncoder()
    texts = [f"wind energy {i} " + ("solar " * (i % 3)) for i in range(70)]
    plain = encode_texts(enc, texts)
    calls_before = enc.calls
    shown = encode_texts(enc, texts, progress=True)
    np.testing.assert_array_equal(plain, shown)
    assert enc.calls - calls_before == 3 and "encoding profiles" in capsys.readouterr().err
    assert encode_texts(enc, []).shape == (0, enc.dim)


def test_ensure_index_over_the_shipped_dataset(tmp_path, taxonomy):
    try:
        organisations = load_dataset().organisations
    except C2CError as exc:  # the shipped data may be mid-curation
        pytest.skip(f"shipped dataset not loadable: {exc}")
    if not organisations:
        pytest.skip("shipped dataset is empty")
    names = list({normalise(s.name): s.name for s in taxonomy.sectors.values()}.values())
    enc = CountingEncoder(names)
    idx = ensure_index(tmp_path / "ix", organisations, enc, taxonomy, "shipped", hnsw_threshold=50_000)
    assert len(idx) == len(organisations) and idx.kind == "exact"
    by_id = {o.id: o for o in organisations}
    for o in organisations[:20]:
        hits = idx.search(idx.vector(o.id), 5, SearchFilters(side=o.side.counterpart, exclude_ids=[o.id]))
        assert hits and all(by_id[i].side is o.side.counterpart for i, _ in hits)
    assert len(VectorIndex.load(tmp_path / "ix")) == len(organisations)
