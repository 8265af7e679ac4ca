"""The fault suite: damaged or missing files in the home folder, extreme values, time-zone and
NUL cases, an empty side, and ``kill -9`` during an import and during an index save.

After every fault the store and the index agree (the index holds exactly the stored profiles)
and the service either works or answers a clear 4xx/503 and then works again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from api_fixtures import COOPERATIONS, ORGANISATIONS, VOCABULARY, Api, api, error_of, make_api, new_profile  # noqa: F401
from server_fixtures import CLI
from fastapi.testclient import TestClient

from api.app import create_app
from index import VectorIndex
from matcher.embeddings import CachedEncoder, KeywordEncoder
from matcher.settings import Settings
from matcher.store.registry import Registry
from matcher.ranking import Suggester

pytestmark = pytest.mark.faults

def consistent(registry: Registry, suggester: Suggester) -> None:
    """The index (in memory and on disk) holds exactly the stored profiles."""
    stored = {o.id for o in registry.all_organisations()}
    assert set(suggester.index.ids) == stored
    suggester.flush_index()  # the save a write schedules, done now
    assert set(VectorIndex.load(Path(suggester.settings.index_dir)).ids) == stored


# --- damaged or missing files in the home folder --------------------------------------------------


def _service(store_url: str, home: Path) -> tuple[TestClient, Registry, Suggester]:
    settings = Settings(database_url=store_url, home=home, api_rate_per_minute=0, api_auth_failures_per_minute=0)
    registry = Registry.open(settings, init=False)
    registry.init(seed=False)
    registry.import_records(ORGANISATIONS, COOPERATIONS)
    encoder = CachedEncoder(KeywordEncoder(VOCABULARY), cache_dir=home / "embedding-cache")
    suggester = Suggester(registry, settings, encoder=encoder, min_probability=0.0, require_fit=False)
    return TestClient(create_app(settings, registry=registry, suggester=suggester)), registry, suggester


def _garble(path: Path) -> None:
    path.write_bytes(os.urandom(300) + b"\x80\xff")


ARTEFACTS = ["index/manifest.json", "index/metadata.json", "index/ids.npy", "index/vectors.npy", "index",
             "embedding-cache/*/keys.json", "embedding-cache/*/vectors-*.npy",
             "embedding-cache", "evaluation/results.json"]


@pytest.mark.parametrize("damage", ["garbled", "missing", "empty"])
@pytest.mark.parametrize("artefact", ARTEFACTS)
def test_a_damaged_home_file_is_rebuilt_or_ignored(sqlite_url: str, tmp_path: Path, artefact: str, damage: str) -> None:
    """Files only: the store behind them does not matter, so SQLite alone."""
    store_url = sqlite_url
    client, registry, suggester = _service(store_url, tmp_path)
    with client:
        assert client.get("/ready").status_code == 200
        expected = client.get("/clusters/aero-north/partners", params={"k": 5}).json()["items"]
    suggester.close()
    registry.close()
    (tmp_path / "evaluation").mkdir(exist_ok=True)
    (tmp_path / "evaluation" / "results.json").write_text('{"protocols": {}}')
    for target in tmp_path.glob(artefact):
        if damage == "missing":
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
        elif target.is_dir():
            for inner in target.rglob("*"):
                if inner.is_file():
                    _garble(inner) if damage == "garbled" else inner.write_bytes(b"")
        else:
            _garble(target) if damage == "garbled" else target.write_bytes(b"")
    client, registry, suggester = _service(store_url, tmp_path)
    try:
        with client:
            ready = client.get("/ready")
            assert ready.status_code == 200, ready.text
            partners = client.get("/clusters/aero-north/partners", params={"k": 5})
            assert partners.status_code == 200, partners.text
            assert [i["id"] for i in partners.json()["items"]] == [i["id"] for i in expected]
            assert client.get("/model").status_code == 200
            created = client.post("/clusters", json=new_profile(), headers=_key(registry))
            assert created.status_code == 201, created.text
            consistent(registry, suggester)
    finally:
        suggester.close()
        registry.close()


def _admin(registry: Registry) -> dict[str, str]:
    from matcher.store.keys import ApiKeys

    return {"X-API-Key": ApiKeys(registry.store).create("faults admin", "admin")[1]}


def _key(registry: Registry) -> dict[str, str]:
    from matcher.store.keys import ApiKeys

    return {"X-API-Key": ApiKeys(registry.store).create("faults", "write")[1]}




@pytest.mark.parametrize("damage", ["header", "middle", "empty"])
def test_a_damaged_sqlite_file_is_a_one_line_error_not_a_traceback(tmp_path: Path, _sqlite_template: Path,
                                                                  damage: str) -> None:
    db = tmp_path / "c2c.db"
    db.write_bytes(_sqlite_template.read_bytes())
    with Registry.open(Settings(home=tmp_path), init=False) as registry:
        registry.import_records(ORGANISATIONS, COOPERATIONS)
    data = bytearray(db.read_bytes())
    if damage == "header":
        data[:100] = os.urandom(100)
    elif damage == "middle":
        page = 4096
        for start in range(page, len(data) - page, page):
            data[start + 8:start + 200] = os.urandom(192)
    else:
        data = bytearray()
    db.write_bytes(bytes(data))
    env = {**os.environ, "C2C_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    env.pop("C2C_DATABASE_URL", None)
    done = subprocess.run(CLI + ["profiles", "list", "--format", "json"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    if done.returncode == 0:  # an empty file is a new store: created and seeded
        assert damage == "empty" and json.loads(done.stdout)
    else:
        assert done.returncode == 1 and done.stderr.startswith("error:") and "store" in done.stderr


def test_a_damaged_store_is_a_503_and_the_service_recovers(sqlite_url: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import contextmanager

    from sqlalchemy.exc import OperationalError

    from matcher.store.engine import _usable

    app, registry, suggester, _ = make_api(sqlite_url, tmp_path)
    try:
        with TestClient(app) as client:
            real_read = registry.store.read

            @contextmanager
            def failing_read():  # type: ignore[no-untyped-def]
                with _usable():
                    raise OperationalError("SELECT", {}, Exception("database disk image is malformed"))
                yield

            monkeypatch.setattr(registry.store, "read", failing_read)
            err = error_of(client.get("/clusters"), 503, "store_unavailable")
            assert "malformed" in err["message"] and str(tmp_path) not in err["message"]
            error_of(client.get("/ready"), 503, "not_ready")
            monkeypatch.setattr(registry.store, "read", real_read)
            assert client.get("/clusters").status_code == 200 and client.get("/ready").status_code == 200
    finally:
        suggester.close()
        registry.close()


# --- extreme values ---------------------------------------------------------------------------------

EVENT = {"name": "Expo", "days": ["2026-10-12"], "slots_per_day": 4, "tables": 3}
HUGE = 10**400

EXTREME_BODIES: list[tuple[str, str, dict[str, Any]]] = [
    *[("POST", "/clusters", {**new_profile(), "facts": {"members": v}}) for v in (HUGE, -1, 1e308, 10_000_001)],
    *[("POST", "/clusters", {**new_profile(), "facts": {"founded": v}}) for v in (HUGE, -(10**30), 1799, 2101)],
    *[("PATCH", "/clusters/aero-north", {"facts": {"members": v}}) for v in (HUGE, -1)],
    *[("POST", "/cooperations", {"eu": "med-lake", "mx": "salud-golfo", "type": "listed", "year": v})
      for v in (HUGE, -5, 1989, 2101, 1e308)],
    *[("POST", "/events", {**EVENT, field: v}) for field, v in [
        ("slots_per_day", HUGE), ("slots_per_day", 0), ("tables", 10**30), ("tables", -1),
        ("meeting_minutes", 10**9), ("meeting_minutes", -1), ("max_meetings", HUGE), ("max_meetings", 0),
        ("min_meetings", -1), ("days", [f"2026-10-{d:02d}" for d in range(1, 32)] + ["2026-11-01"]),
        ("days", []), ("name", "n" * 201), ("venue", "v" * 301)]],
    *[("POST", "/events", {**EVENT, "timezone": tz}) for tz in (
        "America", "x" * 300, "../../../../etc/passwd", "UTC\x00", "/etc/localtime", "", "Europe/")],
    *[("POST", "/feedback", {"org": "aero-north", "partner": "aero-bajio", "verdict": "met", "note": v})
      for v in ("n" * 2001, "a\x00b")],
    *[("POST", "/match", {"name": "Xy Cluster", "side": "MX", "sectors": ["aerospace"], "description": v})
      for v in ("d" * 20_001, "a\x00b")],
    ("POST", "/match", {"name": "Xy", "side": "MX", "sectors": ["s"] * 51}),
    ("POST", "/admin/keys", {"scope": "write", "name": "k" * 201}),
]
EXTREME_PARAMS: list[tuple[str, dict[str, Any]]] = [
    *[("/clusters", {"limit": v}) for v in (str(HUGE), "0", "-1", "1e308", "NaN")],
    *[("/clusters", {"offset": v}) for v in (str(HUGE), "-1", "10000001")],
    *[("/clusters/aero-north/partners", {"k": v}) for v in (str(HUGE), "0", "-1", "101", "inf")],
    ("/clusters", {"q": "q" * 201}), ("/clusters", {"country": "ESP"}),
    *[("/cooperations", {"limit": v}) for v in (str(HUGE), "0")],
]


@pytest.mark.parametrize("method, path, body", EXTREME_BODIES, ids=[f"{m} {p} {i}" for i, (m, p, _) in
                                                                   enumerate(EXTREME_BODIES)])
def test_extreme_values_in_bodies_are_a_422_and_change_nothing(api: Api, method: str, path: str,
                                                              body: dict[str, Any]) -> None:
    version, count = api.registry.data_version(), len(api.registry.all_organisations())
    response = api.client.request(method, path, content=json.dumps(body), headers={
        **api.admin, "Content-Type": "application/json"})
    error_of(response, 422)
    assert api.registry.data_version() == version and len(api.registry.all_organisations()) == count
    assert api.client.get("/events/expo").status_code == 404 or path != "/events"
    consistent(api.registry, api.suggester)
    assert api.client.get("/ready").status_code == 200


@pytest.mark.parametrize("path, params", EXTREME_PARAMS, ids=[f"{p} {q}" for p, q in EXTREME_PARAMS])
def test_extreme_query_values_are_a_422(api: Api, path: str, params: dict[str, Any]) -> None:
    error_of(api.client.get(path, params=params), 422)


@pytest.mark.parametrize("raw", [b'{"name": "Xy Cluster", "side": "MX", "sectors": ["aerospace"], "x": NaN}',
                                 b'{"eu": "med-lake", "mx": "salud-golfo", "type": "listed", "year": NaN}',
                                 b'{"eu": "med-lake", "mx": "salud-golfo", "type": "listed", "year": Infinity}',
                                 b"[" * 100_000, b'"' + b"\\u0000" * 10 + b'"'],
                         ids=["nan-field", "nan-year", "infinite-year", "deep-nesting", "nul-escapes"])
def test_unusual_json_is_a_422(api: Api, raw: bytes) -> None:
    for path in ("/match", "/cooperations"):
        response = api.client.post(path, content=raw, headers={**api.write, "Content-Type": "application/json"})
        error_of(response, 400 if raw.startswith(b"[[[") else 422)  # too deep to parse: a 400
    consistent(api.registry, api.suggester)


def test_plan_options_at_their_extremes_are_a_422(api: Api) -> None:
    assert api.client.post("/events", json={**EVENT, "id": "expo"}, headers=api.write).status_code == 201
    for options in ({"seed": 2**63}, {"seed": -1}, {"time_limit": 1e308}, {"time_limit": 0}, {"min_score": 2},
                    {"scorer": "x" * 10_000}):
        error_of(api.client.post("/events/expo/plan", json=options, headers=api.write), 422)
    participants = {"participants": [{"name": "Guest Co", "side": "EU", "sectors": ["aerospace"],
                                      "max_meetings": 10**9}]}
    error_of(api.client.post("/events/expo/participants", json=participants, headers=api.write), 422)


# --- an empty side ----------------------------------------------------------------------------------


@pytest.fixture
def one_sided(api: Api) -> Api:
    """The API with every Mexican profile deleted."""
    for org in ORGANISATIONS:
        if org.side.value == "MX":
            assert api.client.delete(f"/clusters/{org.id}", headers=api.write).status_code == 204
    return api


def test_an_empty_side_keeps_store_and_index_consistent(one_sided: Api) -> None:
    api = one_sided
    assert api.client.get("/clusters", params={"side": "MX"}).json()["total"] == 0
    consistent(api.registry, api.suggester)
    assert api.client.get("/clusters/aero-north").status_code == 200
    assert api.client.post("/clusters", json=new_profile("back-mx", side="MX", country="MX"),
                           headers=api.write).status_code == 201
    consistent(api.registry, api.suggester)
    assert api.client.get("/ready").status_code == 200
    assert api.client.get("/clusters/aero-north/partners").status_code == 200


@pytest.mark.parametrize("method, path", [("GET", "/clusters/aero-north/partners"), ("GET", "/clusters/nobody/partners"),
                                          ("POST", "/match"), ("GET", "/model"), ("POST", "/admin/retrain"),
                                          ("GET", "/ready")])
def test_an_empty_side_answers_without_a_500(one_sided: Api, method: str, path: str) -> None:
    client = TestClient(one_sided.client.app, raise_server_exceptions=False)
    body = {"name": "Xy Cluster", "side": "MX", "sectors": ["aerospace"]} if path == "/match" else None
    response = client.request(method, path, json=body, headers=one_sided.admin)
    assert response.status_code < 500, response.text


# --- kill -9 ------------------------------------------------------------------------------------------


def _killed_at(code: str, marker: str, env: dict[str, str], delay: float = 0.0, timeout: float = 120) -> str:
    """Run ``code`` in a new interpreter and SIGKILL it ``delay`` s after it prints ``marker``.
    Returns what it printed; fails if it ends before the marker."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + timeout
    try:
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"ended before {marker!r}: {proc.stderr.read()[-2000:]}")
            lines.append(line)
            if marker in line:
                time.sleep(delay)
                break
        else:
            raise AssertionError(f"no {marker!r} within {timeout} s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return "".join(lines)


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parent), **extra}
    env.pop("C2C_DATABASE_URL", None)
    return env


IMPORT = """
    import sys
    from matcher.settings import Settings
    from matcher.store import transfer
    from matcher.store.registry import Registry

    real = transfer.insert_organisations

    def announced(session, orgs, now):
        real(session, orgs, now)
        session.flush()
        print("inserted", flush=True)

    transfer.insert_organisations = announced
    with Registry.open(Settings(database_url={url!r}, home={home!r}),
                       init=False) as registry:
        print("importing", flush=True)
        registry.import_file({path!r})
        print("imported", flush=True)
"""


def _many_profiles(path: Path, n: int) -> None:
    rows = [{"id": f"bulk-{i:05d}", "name": f"Bulk Cluster {i}", "side": "EU" if i % 2 else "MX",
             "country": "ES" if i % 2 else "MX", "type": "company", "sectors": ["aerospace"],
             "description": f"Aircraft parts maker number {i}."} for i in range(n)]
    path.write_text(json.dumps(rows))


@pytest.mark.parametrize("moment, delay", [("importing", 0.05), ("inserted", 0.0), ("inserted", 0.02), ("imported", 0.0)])
def test_kill_9_during_an_import_leaves_the_store_before_or_after(store_url: str, tmp_path: Path, moment: str,
                                                                  delay: float) -> None:
    settings = Settings(database_url=store_url, home=tmp_path, api_rate_per_minute=0)
    with Registry.open(settings, init=False) as registry:
        registry.init(seed=False)
        registry.import_records(ORGANISATIONS, COOPERATIONS)
        before = {o.id for o in registry.all_organisations()}
    path = tmp_path / "bulk.json"
    _many_profiles(path, 3000)
    _killed_at(IMPORT.format(url=store_url, home=str(tmp_path), path=str(path)), moment, _env(), delay)
    registry = Registry.open(settings, init=False)
    suggester = Suggester(registry, settings, encoder=KeywordEncoder(VOCABULARY), min_probability=0.0,
                          require_fit=False)
    try:
        after = {o.id for o in registry.all_organisations()}
        assert after == before or after == before | {f"bulk-{i:05d}" for i in range(3000)}
        consistent(registry, suggester)
        report = registry.import_file(path)  # the same import, run again, completes
        assert len(report.profiles.created) + len(report.profiles.unchanged) == 3000
        consistent(registry, suggester)
    finally:
        suggester.close()
        registry.close()


@pytest.mark.parametrize("moment, delay", [("saving", 0.0), ("saving", 0.01), ("rename", 0.1), ("saved", 0.0)])
def test_kill_9_during_an_index_save_leaves_a_loadable_index(tmp_path: Path, moment: str, delay: float) -> None:
    from index_fixtures import CountingEncoder, sample_profiles

    from matcher.indexing import ensure_index
    from matcher.taxonomy import load_taxonomy

    folder = tmp_path / "index"
    code = f"""
        import sys, time
        from index_fixtures import CountingEncoder, sample_profiles, org
        from matcher.indexing import ensure_index
        from matcher.taxonomy import load_taxonomy
        import index.atomic as manifest

        real_rename = manifest.rename_path

        def slow_rename(src, dst):
            print("rename", dst, flush=True)
            time.sleep(0.3)
            real_rename(src, dst)

        manifest.rename_path = slow_rename
        taxonomy, profiles = load_taxonomy(), sample_profiles()
        for round in range(1, 1000):
            extra = [org(f"extra-{{i}}", "EU", description="wind energy") for i in range(round)]
            print("saving", round, flush=True)
            ensure_index({str(folder)!r}, profiles + extra, CountingEncoder(), taxonomy, str(round),
                         hnsw_threshold=10_000)
            print("saved", round, flush=True)
    """
    _killed_at(code, moment, _env(), delay)
    profiles = sample_profiles()
    index = ensure_index(folder, profiles, CountingEncoder(), load_taxonomy(), "after", hnsw_threshold=10_000)
    assert set(index.ids) == {p.id for p in profiles}
    assert set(VectorIndex.load(folder).ids) == {p.id for p in profiles}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".index.tmp") or p.name == ".index.bak"]
    assert leftovers == []


def test_the_server_starts_over_an_empty_side(sqlite_url: str, tmp_path: Path) -> None:
    """No cooperation is left to learn from, yet the server starts, is ready, reads and can be mended."""
    app, registry, suggester, settings = make_api(sqlite_url, tmp_path)
    try:
        for org in ORGANISATIONS:
            if org.side.value == "MX":
                registry.delete(org.id)
        with TestClient(create_app(settings, registry=registry, suggester=suggester)) as client:
            assert client.get("/clusters").json()["total"] == 6
            assert client.get("/ready").status_code == 200  # store reachable, index in step
            error_of(client.post("/admin/retrain", headers=_admin(registry)), 409, "not_trained")
            registry.import_records(ORGANISATIONS, COOPERATIONS)
            assert client.get("/ready").status_code == 200
            assert client.get("/clusters/aero-north/partners").status_code == 200
    finally:
        suggester.close()
        registry.close()
