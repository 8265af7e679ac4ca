"""Defects found by probing the running service (issue 11): each test fails without its fix."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from api_fixtures import COOPERATIONS, ORGANISATIONS, VOCABULARY, Api, api, error_of, make_api, new_profile  # noqa: F401
from server_fixtures import CLI
from fastapi.testclient import TestClient
from index_fixtures import CountingEncoder, sample_profiles

from api.app import create_app
from index import IndexUnavailable, VectorIndex
from matcher.embeddings import KeywordEncoder
from matcher.errors import ImportRejected, InvalidProfile
from matcher.indexing import ensure_index
from matcher.settings import Settings
from matcher.store.registry import Registry
from matcher.ranking import Suggester
from matcher.taxonomy import load_taxonomy

#: Bytes that are not UTF-8 (a lone continuation byte, an invalid start byte), then random ones.
NOT_UTF8 = b"\x80\xff{\"format_version\": 1}" + bytes(range(128, 256)) * 3


@pytest.fixture
def served(sqlite_url: str, tmp_path: Path) -> Iterator[str]:
    """The API app under a real uvicorn server, with the protocol ``c2c serve`` uses, on a free port."""
    from api.server import HTTP_PROTOCOL

    app, registry, suggester, _ = make_api(sqlite_url, tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=HTTP_PROTOCOL, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    try:
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        suggester.close()
        registry.close()


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
    assert re.search(r" INFO c2c\.index: rebuilt vector index .*\(no saved index\)", first.stderr), first.stderr
    (home / "index" / "manifest.json").write_bytes(NOT_UTF8)
    again = subprocess.run(CLI + ["suggest", "aero-north", "-k", "3", "--format", "json"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr and again.stdout == first.stdout
    assert re.search(r"rebuilt vector index .*manifest is not UTF-8", again.stderr), again.stderr
    assert len(VectorIndex.load(home / "index")) == len(ORGANISATIONS)


# --- #8: small leaks and inconsistencies -------------------------------------------------------


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_model_card_shows_no_server_path(api: Api) -> None:
    results = api.settings.home / "evaluation" / "results.json"
    results.parent.mkdir(parents=True)
    results.write_text(json.dumps({"settings": {"pairs": 4}, "protocols": {}}))
    response = api.client.get("/model")
    assert response.status_code == 200
    assert str(api.settings.home) not in response.text
    assert [s for s in _strings(response.json()) if s.startswith("/")] == []
    assert response.json()["evaluation"]["file"] == "evaluation/results.json"


def test_ready_503_keeps_the_exception_text_in_the_log(api: Api, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    def down(*args: object, **kwargs: object) -> int:
        raise RuntimeError("could not connect to server at /var/run/postgresql/.s.PGSQL.5432")

    monkeypatch.setattr(api.registry, "count_organisations", down)
    with caplog.at_level(logging.WARNING, logger="c2c.api"):
        response = api.client.get("/ready")
    err = error_of(response, 503, "not_ready")
    assert "store" in err["message"] and "RuntimeError" not in response.text and "/var/run" not in response.text
    assert "/var/run/postgresql" in caplog.text


def test_logging_is_one_format_at_the_configured_level(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from matcher.cli import _configure_logging

    monkeypatch.setenv("C2C_LOG_LEVEL", "warning")
    _configure_logging()
    logging.getLogger("c2c.index").info("not shown")
    logging.getLogger("c2c.index").warning("could not save vector index %s", "ix")
    err = capsys.readouterr().err
    assert "not shown" not in err
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ WARNING c2c\.index: could not save vector index ix$",
                     err, re.M), err
    monkeypatch.setenv("C2C_LOG_LEVEL", "debug")
    monkeypatch.setenv("C2C_LOG_JSON", "1")
    _configure_logging()
    logging.getLogger("c2c.index").debug("rebuilt vector index %s", "ix")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("c2c.api").exception("unhandled error")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["level"], r["logger"], r["message"]) for r in lines] == [
        ("DEBUG", "c2c.index", "rebuilt vector index ix"), ("ERROR", "c2c.api", "unhandled error")]
    assert "ValueError: boom" in lines[1]["exception"] and lines[0]["time"].endswith("+00:00")


def test_serve_hands_uvicorn_the_same_logging(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _sqlite_template: Path) -> None:
    import uvicorn

    from matcher.cli import main

    (tmp_path / "c2c.db").write_bytes(_sqlite_template.read_bytes())
    monkeypatch.setenv("C2C_HOME", str(tmp_path))
    monkeypatch.delenv("C2C_DATABASE_URL", raising=False)
    monkeypatch.setenv("C2C_LOG_JSON", "true")
    monkeypatch.setenv("C2C_LOG_LEVEL", "WARNING")
    monkeypatch.chdir(tmp_path)
    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", "8999"])
    assert exit_info.value.code == 0
    assert seen["log_level"] == "warning" and seen["http"] == "api.server:JsonErrorsHttpTools"
    config = seen["log_config"]
    assert config["formatters"]["c2c"] == {"()": "matcher.logs.JsonLines"}
    assert config["loggers"]["uvicorn.access"]["level"] == "WARNING" and config["loggers"]["c2c"]["level"] == "WARNING"


def test_patch_null_for_a_required_field_is_a_422(api: Api) -> None:
    for field in ("sectors", "name", "side", "country", "type"):
        error_of(api.client.patch("/clusters/aero-north", json={field: None}, headers=api.write), 422,
                 "validation_error", field)
    error_of(api.client.patch("/clusters/aero-north", json={"sectors": []}, headers=api.write), 422)
    assert api.client.get("/clusters/aero-north").json()["sectors"] == ["aerospace", "mro"]
    cleared = api.client.patch("/clusters/aero-north", json={"region": None}, headers=api.write)
    assert cleared.status_code == 200 and cleared.json()["region"] is None


EVENT = {"name": "Expo", "days": ["2026-10-12"], "slots_per_day": 4, "tables": 3, "venue": "Hall A"}


@pytest.mark.parametrize("field", ["name", "venue", "timezone"])
def test_nul_in_event_text_is_a_422(api: Api, field: str) -> None:
    body = {**EVENT, field: {"timezone": "America/Mexico\x00_City"}.get(field, "Ex\x00po")}
    err = error_of(api.client.post("/events", json=body, headers=api.write), 422, "validation_error", field)
    assert "NUL" in err["message"]
    assert api.client.post("/events", json=EVENT, headers=api.write).status_code == 201


def test_nul_in_any_stored_text_is_refused_everywhere(api: Api, tmp_path: Path) -> None:
    profile = new_profile("nul-test")
    profile["facts"] = {"notes": ["fine", "bad\x00note"]}
    error_of(api.client.post("/clusters", json=profile, headers=api.write), 422, "validation_error", "facts.notes.1")
    with pytest.raises(InvalidProfile) as info:
        api.registry.create({**profile, "facts": {}, "sources": [{"document": "d\x00", "section": "s"}]})
    assert info.value.field == "sources.0.document"
    path = tmp_path / "nul.json"
    path.write_text(json.dumps([{**profile, "facts": {}, "description": "a\x00b"}]))
    with pytest.raises(ImportRejected) as rejected:
        api.registry.import_file(path)
    assert [(e.field, "NUL" in e.reason) for e in rejected.value.errors] == [("description", True)]
    assert api.client.get("/clusters/nul-test").status_code == 404


def test_a_second_cooperation_for_the_same_pair_is_a_409(api: Api) -> None:
    body = {"eu": "med-lake", "mx": "salud-golfo", "type": "signed_mou", "year": 2021}
    first = api.client.post("/cooperations", json=body, headers=api.write)
    assert first.status_code == 201, first.text
    version = api.registry.data_version()
    err = error_of(api.client.post("/cooperations", json={**body, "id": "another-id"}, headers=api.write), 409,
                   "duplicate")
    assert first.json()["id"] in err["message"]
    assert api.registry.data_version() == version
    assert api.client.get("/cooperations", params={"org": "med-lake"}).json()["total"] == 1
    for other in ({"year": 2022}, {"type": "delegation_visit"}, {"mx": "agro-sur"}):
        assert api.client.post("/cooperations", json={**body, **other}, headers=api.write).status_code == 201
    assert api.client.post("/cooperations", json={**body, "year": None}, headers=api.write).status_code == 201
    error_of(api.client.post("/cooperations", json={**body, "year": None, "id": "x-y"}, headers=api.write), 409)


def test_an_import_that_repeats_a_cooperation_is_rejected(api: Api, tmp_path: Path) -> None:
    stored = COOPERATIONS[0].model_dump(mode="json")
    path = tmp_path / "coops.json"
    path.write_text(json.dumps([{**stored, "id": "same-pair-again"}]))
    with pytest.raises(ImportRejected) as rejected:
        api.registry.import_file(path, kind="cooperations")
    assert rejected.value.errors[0].field == "id" and stored["id"] in rejected.value.errors[0].reason
    twice = {"eu": "med-lake", "mx": "salud-golfo", "type": "signed_mou", "year": 2021, "sources": []}
    path.write_text(json.dumps([{**twice, "id": "one"}, {**twice, "id": "two"}]))
    with pytest.raises(ImportRejected, match="already recorded as 'one'"):
        api.registry.import_file(path, kind="cooperations")
    path.write_text(json.dumps([{**stored, "year": 2000}]))  # changing the stored record itself is fine
    assert api.registry.import_file(path, kind="cooperations").cooperations.updated == [stored["id"]]
    assert len(api.registry.all_cooperations()) == len(COOPERATIONS)


@pytest.mark.parametrize("route", ["/clusters", "/cooperations", "/feedback", "/events", "/admin/keys",
                                   "/admin/retrain", "/events/x/participants"])
def test_malformed_json_without_a_key_is_a_401(api: Api, route: str) -> None:
    broken = {"content": b"{not json", "headers": {"Content-Type": "application/json"}}
    error_of(api.client.post(route, **broken), 401, "unauthorized", "X-API-Key")
    error_of(api.client.post(route, content=b"{not json", headers={"Content-Type": "application/json",
                                                                   "X-API-Key": "wrong"}), 401)
    expected = 403 if route.startswith("/admin") else 422
    error_of(api.client.post(route, content=b"{not json",
                             headers={"Content-Type": "application/json", **api.write}), expected)


def test_names_without_letters_get_distinct_ids(api: Api) -> None:
    ids = []
    for name in ("☃☃☃", "★★★", "——"):
        body = {k: v for k, v in new_profile().items() if k != "id"} | {"name": name}
        response = api.client.post("/clusters", json=body, headers=api.write)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    assert len(set(ids)) == 3 and all(re.fullmatch(r"organisation-[0-9a-f]{10}", i) for i in ids)
    body = {k: v for k, v in new_profile().items() if k != "id"} | {"name": "☃☃☃"}
    error_of(api.client.post("/clusters", json=body, headers=api.write), 409, "duplicate")


@pytest.mark.parametrize("length", ["abc", "-5", "1, 2", "99999999999999999999999"])
def test_a_bad_content_length_gets_the_json_error_shape(served: str, length: str) -> None:
    host, port = served.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"POST /clusters HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {length}\r\n\r\n{{}}".encode())
        raw = b""
        while chunk := sock.recv(4096):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"]["code"] == "bad_request"
    assert httpx.get(f"{served}/health").status_code == 200


def test_openapi_marks_the_key_optional_on_open_reads_and_lists_400(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path, method in [("/clusters", "get"), ("/clusters/{id}/partners", "get"), ("/model", "get"),
                         ("/match", "post"), ("/events/{id}/schedule", "get")]:
        assert {} in paths[path][method]["security"], (method, path)
    for path, method in [("/clusters", "post"), ("/clusters/{id}", "delete"), ("/admin/keys", "get"),
                         ("/events", "post")]:
        assert {} not in paths[path][method]["security"] and paths[path][method]["security"], (method, path)
    assert "scope `admin`" in paths["/admin/retrain"]["post"]["description"]
    for operations in paths.values():
        for operation in operations.values():
            assert "400" in operation["responses"]
