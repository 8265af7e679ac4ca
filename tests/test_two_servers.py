"""Several servers, one truth: two ``c2c serve`` processes, each with its own home folder,
sharing one PostgreSQL schema and one Redis.

What one server is told, the other knows: profiles, the retrained ranker, planned events; and
a client over the rate limit is refused by both.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from typing import Iterator

import httpx
import psycopg
import pytest
from api_fixtures import COOPERATIONS, ORGANISATIONS, new_profile
from conftest import PG_CONNINFO, pg_schema_url, pg_unavailable
from server_fixtures import CLI, free_port, stop_server, wait_for

from matcher.settings import Settings
from matcher.store.registry import Registry

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

REDIS_URL = os.environ.get("C2C_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RATE = 40  # requests per key and minute, on both servers together


def _redis_unavailable() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means the tests cannot run
        return f"no Redis at {REDIS_URL}: {exc}"
    return None


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], dict[str, str], dict[str, str]]]:
    for reason in (pg_unavailable(), _redis_unavailable()):
        if reason:
            pytest.skip(reason)
    schema = f"c2c_two_{secrets.token_hex(6)}"
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = pg_schema_url(schema)
    first_home = tmp_path_factory.mktemp("first")
    with Registry.open(Settings(home=first_home, database_url=url), init=False) as registry:
        registry.init(seed=False)
        registry.import_records(ORGANISATIONS, COOPERATIONS)
    procs: list[subprocess.Popen] = []
    bases: list[str] = []
    keys: dict[str, str] = {}
    try:
        for n, home in enumerate((first_home, tmp_path_factory.mktemp("second"))):
            env = {**os.environ, "C2C_HOME": str(home), "C2C_DATABASE_URL": url, "C2C_REDIS_URL": REDIS_URL,
                   "C2C_REDIS_PREFIX": schema, "C2C_API_RATE_PER_MINUTE": str(RATE), "HF_HUB_OFFLINE": "1"}
            if n == 0:
                for scope in ("write", "admin"):
                    made = subprocess.run(CLI + ["keys", "create", "--scope", scope], env=env,
                                          capture_output=True, text=True, timeout=120)
                    assert made.returncode == 0, made.stderr
                    keys[scope] = made.stdout.strip().splitlines()[-1]
            port = free_port()
            proc = subprocess.Popen(CLI + ["serve", "--port", str(port), "--log-level", "warning"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            procs.append(proc)
            bases.append(f"http://127.0.0.1:{port}")
            wait_for(f"{bases[-1]}/ready", proc)
        yield bases, {"X-API-Key": keys["write"]}, {"X-API-Key": keys["admin"]}
    finally:
        for proc in procs:
            stop_server(proc)
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _eventually(check, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def test_a_profile_written_through_one_is_suggested_by_the_other(servers):
    (one, two), write, _ = servers
    profile = new_profile("shared-wind", side="MX", country="MX")
    profile["sectors"] = ["aerospace"]
    assert httpx.post(f"{one}/clusters", json=profile, headers=write, timeout=60).status_code == 201
    assert httpx.get(f"{two}/clusters/shared-wind", headers=write, timeout=60).status_code == 200

    def suggested() -> bool:
        listed = httpx.get(f"{two}/clusters/aero-north/partners", params={"k": 50}, headers=write, timeout=60)
        return listed.status_code == 200 and "shared-wind" in {p["id"] for p in listed.json()["items"]}

    assert _eventually(suggested)


def test_a_retrain_through_one_changes_the_model_the_other_serves(servers):
    (one, two), write, admin = servers
    before = httpx.get(f"{two}/model", headers=admin, timeout=60).json()["ranker"]["trained_at"]
    time.sleep(1.1)  # trained_at has a resolution of one second
    retrained = httpx.post(f"{one}/admin/retrain", headers=admin, timeout=300)
    assert retrained.status_code == 200, retrained.text
    after = retrained.json()["ranker"]["trained_at"]
    assert after != before
    assert _eventually(lambda: httpx.get(f"{two}/model", headers=admin, timeout=60).json()["ranker"]["trained_at"] == after)


def test_an_event_planned_through_one_is_read_through_the_other(servers):
    (one, two), write, _ = servers
    event = {"id": "shared-day", "name": "Shared day", "days": ["2026-10-12"], "slots_per_day": 4, "tables": 3}
    assert httpx.post(f"{one}/events", json=event, headers=write, timeout=60).status_code == 201
    body = {"participants": [{"ref": o.id} for o in ORGANISATIONS]}
    added = httpx.post(f"{two}/events/shared-day/participants", json=body, headers=write, timeout=60)
    assert added.status_code == 200, added.text
    planned = httpx.post(f"{one}/events/shared-day/plan", json={"time_limit": 5}, headers=write, timeout=300)
    assert planned.status_code == 200, planned.text
    schedule = httpx.get(f"{two}/events/shared-day/schedule", headers=write, timeout=60)
    assert schedule.status_code == 200 and schedule.json() == httpx.get(f"{one}/events/shared-day/schedule",
                                                                          headers=write, timeout=60).json()


def test_a_client_over_the_limit_is_refused_by_both(servers):
    (one, two), _, _ = servers
    # Without a key a client is charged by its address; the other tests all send keys.
    statuses = [httpx.get(f"{(one, two)[i % 2]}/clusters", params={"limit": 1}, timeout=60).status_code
                for i in range(2 * RATE)]
    ok = statuses.count(200)
    # One shared budget: at most RATE answers in all (plus refills during the run), not RATE per server.
    assert ok <= RATE + 5, statuses
    assert 429 in statuses[0::2] and 429 in statuses[1::2]
