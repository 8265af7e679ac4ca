"""The real server: ``c2c serve`` as a subprocess on a free loopback port, spoken to over HTTP.

The store is prepared in a temporary C2C_HOME (SQLite, one worker) or a fresh PostgreSQL
schema (two workers sharing it) with the test fixtures, a write key is created with
``c2c keys create`` in another process, and the server runs with the bundled
sentence-transformers model (the one API test module that loads it).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from contextlib import ExitStack
from typing import Iterator

import httpx
import pytest
from api_fixtures import COOPERATIONS, ORGANISATIONS, new_profile
from conftest import fresh_pg_schema, pg_schema_url
from server_fixtures import CLI, connection_owners, free_port, stop_server, wait_for

from matcher.store.registry import Registry
from matcher.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.model]

@pytest.fixture(scope="module", params=["sqlite-1-worker", "postgres-2-workers"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """The server on SQLite with one worker, and on PostgreSQL with two workers sharing it."""
    home = tmp_path_factory.mktemp("c2c-home")
    env = {**os.environ, "C2C_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("C2C_DATABASE_URL", None)
    workers = "1"
    with ExitStack() as cleanup:
        if request.param.startswith("postgres"):
            env["C2C_DATABASE_URL"] = pg_schema_url(cleanup.enter_context(fresh_pg_schema("c2c_server")))
            workers = "2"
        settings = Settings(home=home, database_url=env.get("C2C_DATABASE_URL", ""))
        with Registry.open(settings, init=False) as registry:
            registry.init(seed=False)
            registry.import_records(ORGANISATIONS, COOPERATIONS)
        made = subprocess.run(CLI + ["keys", "create", "--scope", "write", "--name", "server test"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        secret = made.stdout.strip().splitlines()[-1]
        port = free_port()
        proc = subprocess.Popen(CLI + ["serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                                       "--workers", workers], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{base}/health", proc)
            yield base, {"X-API-Key": secret}, env
        finally:
            stop_server(proc)


#: A new connection per request, so that with several workers the requests spread over them.
FRESH = httpx.Limits(max_keepalive_connections=0)


def test_real_server_answers_over_http(server):
    base, key, _ = server
    with httpx.Client(base_url=base, timeout=60, limits=FRESH) as http:
        assert http.get("/health").json()["status"] == "ok"
        ready = http.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["index"]["indexed"] == len(ORGANISATIONS)
        assert http.get("/docs").status_code == 200
        assert http.get("/clusters", params={"limit": 100}).json()["total"] == len(ORGANISATIONS)
        card = http.get("/model").json()
        assert card["embedding_dim"] == 512 and card["ranker_training_pairs"] == len(COOPERATIONS)  # the default USE model

        partners = http.get("/clusters/aero-north/partners", params={"k": 5}).json()
        assert partners["query"]["id"] == "aero-north"
        assert all(p["side"] == "MX" and 0 <= p["score"] <= 1 for p in partners["items"])
        match = http.post("/match", json={"name": "Clúster Aeroespacial Demo", "side": "MX",
                                          "sectors": ["aerospace"], "description": "Aircraft parts."})
        assert match.status_code == 200 and all(p["side"] == "EU" for p in match.json()["items"])

        error = http.post("/clusters", json=new_profile("over-http")).json()["error"]
        assert error["status"] == 401 and error["code"] == "unauthorized"
        assert http.post("/clusters", json=new_profile("over-http"), headers=key).status_code == 201
        assert http.get("/ready").json()["checks"]["index"]["indexed"] == len(ORGANISATIONS) + 1
        for _ in range(6):  # whichever worker answers knows the new profile at once
            own = http.get("/clusters/over-http/partners")
            assert own.status_code == 200 and own.json()["query"]["id"] == "over-http"
        assert http.delete("/clusters/over-http", headers=key).status_code == 204
        assert http.get("/clusters/over-http").status_code == 404
        assert all(http.get("/clusters/over-http/partners").status_code == 404 for _ in range(6))
        assert http.get("/ready").json()["checks"]["index"]["indexed"] == len(ORGANISATIONS)
        for mx in ("aero-bajio", "energia-norte"):
            listed = http.get(f"/clusters/{mx}/partners", params={"k": 50}).json()["items"]
            assert "over-http" not in [p["id"] for p in listed]
        too_big = http.post("/match", content=b"x" * (Settings().api_max_body_bytes + 1),
                            headers={"Content-Type": "application/json"})
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"


def run_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(CLI + list(args), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_keys_made_and_revoked_with_the_cli_work_on_the_running_server(server):
    base, _, env = server

    def cli(*args: str) -> str:
        return run_cli(env, *args)

    secret = cli("keys", "create", "--scope", "admin", "--name", "ops").strip().splitlines()[-1]
    listed = cli("keys", "list", "--format", "json")
    assert "ops" in listed and secret not in listed
    key_id = next(k["id"] for k in json.loads(listed) if k["name"] == "ops")
    with httpx.Client(base_url=base, timeout=60, limits=FRESH) as http:
        feedback = {"org": "aero-north", "partner": "aero-bajio", "verdict": "met"}
        assert http.post("/feedback", json=feedback, headers={"X-API-Key": secret}).status_code == 201
        cli("keys", "revoke", key_id)
        refused = http.post("/feedback", json=feedback, headers={"X-API-Key": secret})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"


def test_a_retrain_with_feedback_reaches_every_worker(server):
    base, key, env = server
    admin = {"X-API-Key": run_cli(env, "keys", "create", "--scope", "admin", "--name", "retrain").strip().splitlines()[-1]}
    with httpx.Client(base_url=base, timeout=120, limits=FRESH) as http:
        verdict = {"org": "med-lake", "partner": "auto-centro", "verdict": "agreement_signed"}
        assert http.post("/feedback", json=verdict, headers=key).status_code == 201
        retrained = http.post("/admin/retrain", headers=admin)
        assert retrained.status_code == 200, retrained.text
        assert retrained.json()["ranker"]["feedback"]["positives"] == 1
        # New connections spread over the workers: each must serve the model just saved.
        for _ in range(8):
            assert http.get("/model").json()["ranker"]["feedback"]["positives"] == 1


def test_keep_alive_connections_opened_together_are_shared_out_between_workers(server):
    """Each worker listens on a socket of its own (api.workers), so a client's pool of keep-alive
    connections does not all land on whichever worker woke first."""
    base, _, env = server
    if "C2C_DATABASE_URL" not in env:
        pytest.skip("one worker")
    port = int(base.rsplit(":", 1)[1])
    connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
    try:
        for conn in connections:
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        for conn in connections:
            assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        owners = connection_owners(port)
        assert sum(owners.values()) >= 16
        # Shared by a hash of the client's port: all 16 on one of two workers has odds of 2 in 65,536.
        assert len(owners) == 2, owners
    finally:
        for conn in connections:
            conn.close()
