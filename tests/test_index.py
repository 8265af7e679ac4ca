"""Tests of the vector index: search, filters, mutation, persistence and sync."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

import index.atomic as atomic
import index.backends as backends
from index import DuplicateItem, HNSWParams, IndexUnavailable, ItemMeta, SearchFilters, UnknownItem, VectorIndex
from index_fixtures import clustered_vectors
from matcher.taxonomy import load_taxonomy

SIDES = ("EU", "MX")
COUNTRIES = ("ES", "DE", "FR", "IT")
TYPES = ("cluster_organisation", "company", "public_agency")
SECTORS = ("energy", "wind", "solar", "automotive", "electromobility", "furniture", "software")


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


def random_items(n: int, dim: int = 24, seed: int = 1):
    """Ids, clustered unit vectors and varied metadata for ``n`` items."""
    rng = np.random.default_rng(seed)
    vectors = clustered_vectors(n, dim, clusters=8, seed=seed)
    metas = []
    for i in range(n):
        side = SIDES[i % 2]
        metas.append(ItemMeta(
            side=side, country="MX" if side == "MX" else COUNTRIES[rng.integers(len(COUNTRIES))],
            region=f"r{rng.integers(5)}" if i % 3 else None, type=TYPES[rng.integers(len(TYPES))],
            sectors=tuple(rng.choice(SECTORS, size=rng.integers(1, 4), replace=False)),
        ))
    return [f"item-{i}" for i in range(n)], vectors, metas


def reference_search(ids, vectors, metas, query, k, filters=None):
    """Brute-force answer: score every item, keep those passing the filters."""
    scores = vectors @ query
    keep = [i for i in range(len(ids)) if filters is None or filters.matches(ids[i], metas[i])]
    keep.sort(key=lambda i: (-scores[i], i))
    return [ids[i] for i in keep[:k]]


@pytest.fixture()
def items():
    return random_items(400)


# --------------------------------------------------------------------------- search
@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_unfiltered_search_matches_brute_force(items, kind):
    ids, vectors, metas = items
    idx = VectorIndex.build(ids, vectors, metas, model_name="m", kind=kind, params=HNSWParams(ef_search=400))
    assert idx.kind == kind and len(idx) == 400
    for q in vectors[:20]:
        got = idx.search(q, 10)
        assert [i for i, _ in got] == reference_search(ids, vectors, metas, q, 10)
        np.testing.assert_allclose([s for _, s in got], np.sort(vectors @ q)[::-1][:10], rtol=1e-5)


def test_search_many_equals_search(items):
    ids, vectors, metas = items
    idx = VectorIndex.build(ids, vectors, metas, model_name="m")
    assert idx.search_many(vectors[:5], 7) == [idx.search(q, 7) for q in vectors[:5]]


def test_search_rejects_bad_vectors(items):
    ids, vectors, metas = items
    idx = VectorIndex.build(ids, vectors, metas, model_name="m")
    with pytest.raises(ValueError):
        idx.search(np.ones(5, np.float32), 3)
    with pytest.raises(ValueError):
        idx.search(np.full(24, np.nan, np.float32), 3)
    assert idx.search(vectors[0], 0) == []
    assert len(idx.search(vectors[0], 10_000)) == 400


# --------------------------------------------------------------------------- filters
FILTER_CASES = [
    dict(side="MX"),
    dict(side="EU", country="ES"),
    dict(side="EU", country=["DE", "FR"], type="company"),
    dict(region="r2"),
    dict(sector="furniture"),
    dict(sector=["solar", "software"], side="EU"),
    dict(type=["public_agency", "company"], exclude_ids=[f"item-{i}" for i in range(0, 400, 3)]),
    dict(country="PT"),
]


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
@pytest.mark.parametrize("case", range(len(FILTER_CASES)))
def test_filtered_search_matches_reference(items, kind, case, monkeypatch):
    monkeypatch.setattr(backends, "EXACT_FALLBACK_ROWS", 0)  # exercise the HNSW selector path
    ids, vectors, metas = items
    filters = SearchFilters(**FILTER_CASES[case])
    idx = VectorIndex.build(ids, vectors, metas, model_name="m", kind=kind, params=HNSWParams(ef_search=16))
    passing = sum(filters.matches(i, m) for i, m in zip(ids, metas))
    for q in vectors[100:110]:
        got = [i for i, _ in idx.search(q, 10, filters)]
        assert len(got) == min(10, passing)
        assert all(filters.matches(i, metas[ids.index(i)]) for i in got)
        if kind == "exact":
            assert got == reference_search(ids, vectors, metas, q, 10, filters)


def test_selective_filter_on_hnsw_still_returns_k(monkeypatch):
    monkeypatch.setattr(backends, "EXACT_FALLBACK_ROWS", 0)
    ids, vectors, metas = random_items(3000, dim=16, seed=4)
    metas = [ItemMeta(side="EU", country="FI" if i % 100 == 0 else "ES") for i in range(3000)]
    idx = VectorIndex.build(ids, vectors, metas, model_name="m", kind="hnsw", params=HNSWParams(ef_search=8))
    got = idx.search(vectors[5], 25, SearchFilters(country="FI"))
    assert len(got) == 25 and all(int(i.split("-")[1]) % 100 == 0 for i, _ in got)
    assert [i for i, _ in got] == reference_search(ids, vectors, metas, vectors[5], 25, SearchFilters(country="FI"))


def test_sector_filter_with_taxonomy_matches_descendants(taxonomy):
    ids = ["a", "b", "c", "d"]
    vectors = clustered_vectors(4, 8, seed=2)
    metas = [ItemMeta(sectors=("wind",)), ItemMeta(sectors=("solar", "software")),
             ItemMeta(sectors=("furniture",)), ItemMeta(sectors=("energy",))]
    idx = VectorIndex.build(ids, vectors, metas, model_name="m")
    energy = SearchFilters(sector="energy", taxonomy=taxonomy)
    assert {"wind", "solar", "energy", "renewable-energy"} <= energy.sector
    assert sorted(i for i, _ in idx.search(vectors[2], 10, energy)) == ["a", "b", "d"]
    assert sorted(i for i, _ in idx.search(vectors[0], 10, SearchFilters(sector="energy"))) == ["d"]
    by_spanish_name = SearchFilters(sector="Energía eólica", taxonomy=taxonomy)
    assert [i for i, _ in idx.search(vectors[2], 10, by_spanish_name)] == ["a"]


def test_filters_normalise_values():
    from matcher.profiles import OrgType, Side

    f = SearchFilters(side=Side.MX, country="es", type=OrgType.COMPANY, exclude_ids=["x"])
    assert f.side == {"MX"} and f.country == {"ES"} and f.type == {"company"} and not f.is_empty
    assert f.matches("y", ItemMeta(side="MX", country="ES", type="company"))
    assert not f.matches("x", ItemMeta(side="MX", country="ES", type="company"))
    assert not f.matches("y", ItemMeta(side="MX", country=None, type="company"))
    assert SearchFilters().is_empty


# --------------------------------------------------------------------------- mutation
@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_add_update_remove(items, kind):
    ids, vectors, metas = items
    idx = VectorIndex.build(ids[:300], vectors[:300], metas[:300], model_name="m", kind=kind,
                            params=HNSWParams(ef_search=300))
    idx.add("new-one", vectors[350], ItemMeta(side="MX", country="MX"), content_hash="h1")
    assert idx.search(vectors[350], 1) == [("new-one", pytest.approx(1.0, abs=1e-5))]
    assert idx.meta("new-one").country == "MX" and idx.content_hash("new-one") == "h1"
    with pytest.raises(DuplicateItem):
        idx.add("new-one", vectors[351])
    idx.update("new-one", vector=vectors[351], content_hash="h2")
    assert idx.search(vectors[351], 1)[0][0] == "new-one"
    assert idx.meta("new-one").country == "MX" and idx.content_hash("new-one") == "h2"
    idx.update("new-one", meta=ItemMeta(side="EU", country="PT"))
    assert [i for i, _ in idx.search(vectors[351], 3, SearchFilters(country="PT"))] == ["new-one"]
    idx.remove("new-one")
    assert "new-one" not in idx and len(idx) == 300
    assert all(i != "new-one" for i, _ in idx.search(vectors[351], 20))
    with pytest.raises(UnknownItem):
        idx.remove("new-one")
    with pytest.raises(UnknownItem):
        idx.update("ghost", meta=ItemMeta())
    idx.upsert("item-0", vectors[399])
    assert idx.search(vectors[399], 1)[0][0] == "item-0" and idx.meta("item-0") == metas[0]
    np.testing.assert_array_equal(idx.vector("item-0"), vectors[399])


def test_many_removals_compact_and_stay_correct(items):
    ids, vectors, metas = items
    idx = VectorIndex.build(ids, vectors, metas, model_name="m", kind="hnsw", params=HNSWParams(ef_search=400))
    for i in range(0, 400, 2):
        idx.remove(ids[i])
    keep = list(range(1, 400, 2))
    assert idx.dead_rows < 64 and len(idx) == 200 and idx.ids == [ids[i] for i in keep]
    for q in vectors[:5]:
        want = reference_search([ids[i] for i in keep], vectors[keep], [metas[i] for i in keep], q, 10)
        assert [i for i, _ in idx.search(q, 10)] == want


def test_auto_kind_switches_at_threshold(items):
    ids, vectors, metas = items
    idx = VectorIndex.build(ids[:40], vectors[:40], metas[:40], model_name="m", hnsw_threshold=50)
    assert idx.kind == "exact"
    idx.add_many(ids[40:60], vectors[40:60], metas[40:60])
    assert idx.kind == "hnsw" and len(idx) == 60
    for i in ids[:40]:
        idx.remove(i)
    assert idx.kind == "exact" and idx.ids == ids[40:60]
    assert idx.search(vectors[45], 1)[0][0] == "item-45"


def test_hnsw_recall_against_exact():
    n, dim = 4000, 32
    vectors = clustered_vectors(n, dim, clusters=40, seed=7)
    ids = [str(i) for i in range(n)]
    queries = clustered_vectors(200, dim, clusters=40, seed=7)[:200] + 0.01
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = VectorIndex.build(ids, vectors, model_name="m", kind="exact")
    hnsw = VectorIndex.build(ids, vectors, model_name="m", kind="hnsw", params=HNSWParams(ef_search=64))
    truth, approx = exact.search_many(queries, 10), hnsw.search_many(queries, 10)
    recall = np.mean([len({i for i, _ in a} & {i for i, _ in t}) / 10 for a, t in zip(approx, truth)])
    assert recall >= 0.9


# --------------------------------------------------------------------------- persistence
def queries_and_filters(vectors):
    return [(q, f) for q in vectors[:15] for f in (None, SearchFilters(side="EU"), SearchFilters(sector="wind"))]


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_save_load_round_trip_gives_identical_results(items, kind, tmp_path: Path):
    ids, vectors, metas = items
    idx = VectorIndex.build(ids, vectors, metas, model_name="enc-x", kind=kind,
                            content_hashes=[f"h{i}" for i in range(400)], params=HNSWParams(m=8, ef_search=32))
    idx.remove("item-7")
    idx.save(tmp_path / "ix", data_version="v42")
    loaded = VectorIndex.load(tmp_path / "ix")
    assert loaded.kind == kind and loaded.ids == idx.ids and loaded.content_hashes() == idx.content_hashes()
    assert loaded.params == idx.params and loaded.data_version == "v42"
    assert all(loaded.meta(i) == idx.meta(i) for i in idx.ids)
    for q, f in queries_and_filters(vectors):
        assert loaded.search(q, 10, f) == idx.search(q, 10, f)
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["kind"] == kind and manifest["count"] == 399
    assert manifest["model_name"] == "enc-x" and manifest["dim"] == 24 and manifest["data_version"] == "v42"
    assert {"faiss", "numpy"} <= set(manifest["versions"]) and manifest["created_at"]
    assert set(manifest["files"]) == {p.name for p in (tmp_path / "ix").iterdir()} - {"manifest.json"}
    assert np.load(tmp_path / "ix" / "ids.npy", allow_pickle=False).dtype.kind == "U"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ix.tmp") or p.name == ".ix.bak"] == []


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest"])
def test_corrupt_folder_raises_index_unavailable(items, tmp_path: Path, damage):
    ids, vectors, metas = items
    VectorIndex.build(ids, vectors, metas, model_name="m").save(tmp_path / "ix")
    target = tmp_path / "ix" / "vectors.npy"
    if damage == "flip":
        data = bytearray(target.read_bytes())
        data[-5] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "delete":
        target.unlink()
    else:
        (tmp_path / "ix" / "manifest.json").write_text('{"format_version": 1, "kind": ')
    with pytest.raises(IndexUnavailable) as info:
        VectorIndex.load(tmp_path / "ix")
    assert info.value.reason and str(tmp_path / "ix") in str(info.value)


def test_missing_folder_raises_index_unavailable(tmp_path: Path):
    with pytest.raises(IndexUnavailable, match="does not exist"):
        VectorIndex.load(tmp_path / "nothing")


def test_failed_save_keeps_the_old_index(items, tmp_path: Path, monkeypatch):
    ids, vectors, metas = items
    old = VectorIndex.build(ids[:200], vectors[:200], metas[:200], model_name="m")
    old.save(tmp_path / "ix", data_version="old")
    expected = old.search(vectors[0], 5)
    new = VectorIndex.build(ids, vectors, metas, model_name="m")
    real_save = backends.save_npy

    def crash_on_vectors(path, array):
        if path.name == "vectors.npy":
            path.write_bytes(b"partial")
            raise OSError("disk full")
        real_save(path, array)

    monkeypatch.setattr(backends, "save_npy", crash_on_vectors)
    with pytest.raises(OSError, match="disk full"):
        new.save(tmp_path / "ix", data_version="new")
    reloaded = VectorIndex.load(tmp_path / "ix")
    assert reloaded.data_version == "old" and reloaded.search(vectors[0], 5) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ix.lock", "ix"]


def test_crash_between_renames_recovers_the_old_index(items, tmp_path: Path, monkeypatch, caplog):
    ids, vectors, metas = items
    VectorIndex.build(ids[:200], vectors[:200], metas[:200], model_name="m").save(tmp_path / "ix", "old")
    real_rename, calls = atomic.rename_path, []

    def crash_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("power cut")
        real_rename(src, dst)

    monkeypatch.setattr(atomic, "rename_path", crash_on_second)
    with pytest.raises(OSError, match="power cut"):
        VectorIndex.build(ids, vectors, metas, model_name="m").save(tmp_path / "ix", "new")
    monkeypatch.setattr(atomic, "rename_path", real_rename)
    assert not (tmp_path / "ix").exists() and (tmp_path / ".ix.bak").is_dir()
    with caplog.at_level(logging.WARNING, logger="c2c.index"):
        recovered = VectorIndex.load(tmp_path / "ix")
    assert recovered.data_version == "old" and len(recovered) == 200 and "interrupted save" in caplog.text
    VectorIndex.build(ids, vectors, metas, model_name="m").save(tmp_path / "ix", "new")
    assert VectorIndex.load(tmp_path / "ix").data_version == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ix.lock", "ix"]


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_reserved_storage_fills_in_chunks_correctly(kind):
    n = 25_000 if kind == "exact" else 3_000
    ids, vectors, metas = random_items(n, dim=8, seed=9)
    idx = VectorIndex(8, "m", kind=kind, params=HNSWParams(ef_search=200))
    idx.reserve(n + 10)
    for start in range(0, n, 1000):
        idx.add_many(ids[start:start + 1000], vectors[start:start + 1000], metas[start:start + 1000])
    big = VectorIndex.build(ids, vectors, metas, model_name="m", kind=kind, params=HNSWParams(ef_search=200))
    np.testing.assert_array_equal(idx.vectors(), vectors)
    np.testing.assert_array_equal(big.vectors(), vectors)
    for q in vectors[:5]:
        want = reference_search(ids, vectors, metas, q, 5)
        assert [i for i, _ in idx.search(q, 5)] == want and [i for i, _ in big.search(q, 5)] == want
