"""Defects found by probing the running service (issue 11): each test fails without its fix."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from api_fixtures import COOPERATIONS, ORGANISATIONS, VOCABULARY
from fastapi.testclient import TestClient
from index_fixtures import CountingEncoder, sample_profiles

from api.app import create_app
from index import IndexUnavailable, VectorIndex
from matcher.embeddings import KeywordEncoder
from matcher.indexing import ensure_index
from matcher.settings import Settings
from matcher.store.registry import Registry
from matcher.suggest import Suggester
from matcher.taxonomy import load_taxonomy

CLI = [sys.executable, "-c", "import sys; from matcher.cli import main; main(sys.argv[1:])"]
#: Bytes that are not UTF-8 (a lone continuation byte, an invalid start byte), then random ones.
NOT_UTF8 = b"\x80\xff{\"format_version\": 1}" + bytes(range(128, 256)) * 3


# --- #4: a manifest that is not UTF-8 is rebuilt like any other corruption ------------------


def test_non_utf8_manifest_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    ensure_index(tmp_path / "ix", sample_profiles(), CountingEncoder(), load_taxonomy(), "v1",
                 hnsw_threshold=1000)
    (tmp_path / "ix" / "manifest.json").write_bytes(NOT_UTF8)
    with pytest.raises(IndexUnavailable, match="not UTF-8"):
        VectorIndex.load(tmp_path / "ix")


def test_non_utf8_manifest_is_rebuilt_with_a_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    profiles, taxonomy = sample_profiles(), load_taxonomy()
    ensure_index(tmp_path / "ix", profiles, CountingEncoder(), taxonomy, "v1", hnsw_threshold=1000)
    (tmp_path / "ix" / "manifest.json").write_bytes(NOT_UTF8)
    with caplog.at_level(logging.INFO, logger="c2c.index"):
        index = ensure_index(tmp_path / "ix", profiles, CountingEncoder(), taxonomy, "v2", hnsw_threshold=1000)
    assert len(index) == len(profiles)
    assert "rebuilt vector index" in caplog.text and "not UTF-8" in caplog.text
    assert len(VectorIndex.load(tmp_path / "ix")) == len(profiles)


def _app(store_url: str, home: Path) -> tuple[TestClient, Registry, Suggester]:
    settings = Settings(database_url=store_url, home=home, api_rate_per_minute=0)
    registry = Registry.open(settings, init=False)
    registry.init(seed=False)
    registry.import_records(ORGANISATIONS, COOPERATIONS)
    suggester = Suggester(registry, settings, encoder=KeywordEncoder(VOCABULARY), min_probability=0.0,
                          require_fit=False)
    return TestClient(create_app(settings, registry=registry, suggester=suggester)), registry, suggester


def test_server_starts_over_a_non_utf8_manifest(sqlite_url: str, tmp_path: Path) -> None:
    client, registry, suggester = _app(sqlite_url, tmp_path)
    with client:
        assert client.get("/ready").status_code == 200
    suggester.close()
    registry.close()
    (tmp_path / "index" / "manifest.json").write_bytes(NOT_UTF8)
    client, registry, suggester = _app(sqlite_url, tmp_path)
    try:
        with client:
            ready = client.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["index"]["indexed"] == len(ORGANISATIONS)
            partners = client.get("/clusters/aero-north/partners", params={"k": 3})
            assert partners.status_code == 200 and partners.json()["items"]
        assert len(VectorIndex.load(tmp_path / "index")) == len(ORGANISATIONS)
    finally:
        suggester.close()
        registry.close()


@pytest.mark.model
def test_cli_suggest_over_a_non_utf8_manifest(tmp_path: Path, _sqlite_template: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "c2c.db").write_bytes(_sqlite_template.read_bytes())
    with Registry.open(Settings(home=home), init=False) as registry:
        registry.import_records(ORGANISATIONS, COOPERATIONS)
    env = {**os.environ, "C2C_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("C2C_DATABASE_URL", None)
    first = subprocess.run(CLI + ["suggest", "aero-north", "-k", "3", "--format", "json"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    (home / "index" / "manifest.json").write_bytes(NOT_UTF8)
    again = subprocess.run(CLI + ["suggest", "aero-north", "-k", "3", "--format", "json"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr and again.stdout == first.stdout
    assert len(VectorIndex.load(home / "index")) == len(ORGANISATIONS)
