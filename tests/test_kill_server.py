"""``kill -9`` of the real server during concurrent write bursts, on SQLite and on PostgreSQL.

``c2c serve --workers 2`` runs on the test fixtures in a temporary home (SQLite) or a fresh
PostgreSQL schema. Four writers create, change and delete profiles of their own and record
cooperations, each over its own connection, while the whole process group of the server is
killed with SIGKILL at a seeded random moment; the server is then started again on the same
home and store. Two rounds (each start of two workers takes 10-20 s on two cores). Every write
is entered in a ledger with what its answer proves:

- answered with 2xx (acknowledged): the write must be in the store, whatever came later;
- refused before a connection was made: the write must not be in the store;
- cut off by the kill: the store may hold the old or the new state, but nothing in between.

After each kill the store is read directly and checked against the ledger; after each restart
the service must be ready, every stored profile must have a partner list that shows no profile
outside the store, and every deleted one must be a 404. At the end, after a clean stop, the
index saved on disk must hold exactly the stored profiles with their current texts.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from api_fixtures import COOPERATIONS, ORGANISATIONS, SOURCE
from conftest import fresh_pg_schema, pg_schema_url
from server_fixtures import CLI, free_port, wait_for

from index import VectorIndex
from matcher.indexing import Drift, ProfileSet
from matcher.profiles import Organisation
from matcher.settings import Settings
from matcher.store.registry import Registry
from matcher.taxonomy import load_taxonomy

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.model]

WRITERS = 4
ROUNDS = 2
SECTORS = ["wind", "solar", "aerospace", "auto-parts", "software", "agrifood"]
MX_FIXTURES = [o.id for o in ORGANISATIONS if o.side.value == "MX"]
FIXTURE_IDS = {o.id for o in ORGANISATIONS}
#: A new connection per request, so that requests spread over both workers.
FRESH = httpx.Limits(max_keepalive_connections=0)


@dataclass
class Ledger:
    """What the writers were told, and so what the store must (or may) hold."""

    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)  # every profile a writer tried to create
    present: set[str] = field(default_factory=set)  # creates acknowledged, not deleted since
    maybe: set[str] = field(default_factory=set)  # creates or deletes cut off by a kill
    absent: set[str] = field(default_factory=set)  # deletes acknowledged, creates never delivered
    descriptions: dict[str, set[str]] = field(default_factory=dict)  # the texts a profile may hold now
    cooperations: dict[str, str] = field(default_factory=dict)  # acknowledged: id -> the EU party
    maybe_cooperations: set[str] = field(default_factory=set)
    kept: set[str] = field(default_factory=set)  # parties of a cooperation: never deleted
    answers: dict[str, int] = field(default_factory=dict)  # "METHOD status" -> count
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, method: str, status: int | str) -> None:
        with self.lock:
            self.answers[f"{method} {status}"] = self.answers.get(f"{method} {status}", 0) + 1


class ServerProcess:
    """``c2c serve`` in a process group of its own, so that ``kill -9`` reaches every worker."""

    def __init__(self, env: dict[str, str], port: int):
        self.env, self.port = env, port
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(CLI + ["serve", "--port", str(self.port), "--workers", "2", "--log-level",
                                            "warning"], env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        wait_for(f"{self.base}/ready", self.proc)

    def kill(self) -> None:
        """SIGKILL to the whole group: the supervisor and both workers die at once."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        _wait_until_gone(self.proc.pid)

    def stop(self) -> None:
        """A clean stop (SIGINT), as a user's Ctrl-C; the workers save what is unsaved."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        _wait_until_gone(self.proc.pid)


def _wait_until_gone(group: int, timeout: float = 30.0) -> None:
    """Wait until no process of the group is left (the workers may outlive the supervisor)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {group} still alive after {timeout} s")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ServerProcess, Settings, dict[str, str]]]:
    """A stopped server on the fixtures (SQLite in the home, or a fresh PostgreSQL schema) and a write key."""
    env = {**os.environ, "C2C_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "C2C_API_RATE_PER_MINUTE": "0"}
    env.pop("C2C_DATABASE_URL", None)
    with ExitStack() as stack:
        if request.param == "postgres":
            env["C2C_DATABASE_URL"] = pg_schema_url(stack.enter_context(fresh_pg_schema("c2c_kill")))
        settings = Settings(home=tmp_path, database_url=env.get("C2C_DATABASE_URL", ""))
        with Registry.open(settings, init=False) as registry:
            registry.init(seed=False)
            registry.import_records(ORGANISATIONS, COOPERATIONS)
        made = subprocess.run(CLI + ["keys", "create", "--scope", "write", "--name", "kill test"], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert made.returncode == 0, made.stderr
        server = ServerProcess(env, free_port())
        try:
            yield server, settings, {"X-API-Key": made.stdout.strip().splitlines()[-1]}
        finally:
            if server.proc is not None and server.proc.poll() is None:
                os.killpg(server.proc.pid, signal.SIGKILL)
                server.proc.wait()


# --- the writers ---------------------------------------------------------------------------------


def _profile(org_id: str, n: int) -> dict[str, Any]:
    side = "EU" if n % 2 else "MX"
    sector = SECTORS[n % len(SECTORS)]
    return {"id": org_id, "name": f"Burst Cluster {org_id}", "aliases": [f"Alias of {org_id}"], "side": side,
            "country": "ES" if side == "EU" else "MX", "type": "cluster_organisation", "sectors": [sector],
            "description": f"Cluster {org_id}, working on {sector} projects.", "sources": SOURCE}


def _send(http: httpx.Client, ledger: Ledger, method: str, path: str, body: Any = None) -> int | str:
    """The status, or ``"refused"`` when no connection was made (the request never left),
    or ``"cut"`` when the connection failed after it was made (the server may have acted on it)."""
    try:
        status: int | str = http.request(method, path, json=body).status_code
    except httpx.ConnectError:
        status = "refused"
    except httpx.TransportError:
        status = "cut"
    ledger.count(method, status)
    return status


def _writer(base: str, key: dict[str, str], ledger: Ledger, w: int, rounds: int, rng: random.Random) -> None:
    """Create, change and delete own profiles and record cooperations until the server is gone
    (a connection refused)."""
    mine: list[str] = sorted(i for i in ledger.present if i.startswith(f"burst-{w}-"))
    with httpx.Client(base_url=base, headers=key, timeout=60) as http:
        n, status = 0, None
        while status != "refused":
            roll = rng.random()
            eligible = [i for i in mine if i not in ledger.kept]
            if roll < 0.5 or not mine:
                org_id = f"burst-{w}-{rounds}-{n}"
                body = _profile(org_id, n)
                with ledger.lock:
                    ledger.bodies[org_id] = body
                    ledger.descriptions[org_id] = {body["description"]}
                status = _send(http, ledger, "POST", "/clusters", body)
                with ledger.lock:
                    if status == 201:
                        ledger.present.add(org_id)
                        mine.append(org_id)
                    elif status == "refused":
                        ledger.absent.add(org_id)
                    else:
                        ledger.maybe.add(org_id)
            elif roll < 0.75:
                target = rng.choice(mine)
                text = f"Changed by writer {w} in round {rounds}, step {n}."
                with ledger.lock:
                    ledger.descriptions[target].add(text)
                status = _send(http, ledger, "PATCH", f"/clusters/{target}", {"description": text})
                with ledger.lock:
                    if status == 200:
                        ledger.descriptions[target] = {text}
                    elif status == "refused":
                        ledger.descriptions[target].discard(text)
            elif roll < 0.87 and eligible:
                target = rng.choice(eligible)
                mine.remove(target)  # whatever the answer, the writer leaves it alone from now on
                status = _send(http, ledger, "DELETE", f"/clusters/{target}")
                with ledger.lock:
                    ledger.present.discard(target)
                    if status == 204:
                        ledger.absent.add(target)
                    elif status != "refused":
                        ledger.maybe.add(target)
                    else:
                        ledger.present.add(target)
                        mine.append(target)
            else:
                eu = [i for i in eligible if ledger.bodies[i]["side"] == "EU"]
                if not eu:
                    status = _send(http, ledger, "GET", f"/clusters/{rng.choice(mine)}")
                    n += 1
                    continue
                party = rng.choice(eu)
                coop_id = f"coop-{party}"
                with ledger.lock:
                    ledger.kept.add(party)
                body = {"id": coop_id, "eu": party, "mx": rng.choice(MX_FIXTURES), "type": "delegation_visit",
                        "year": 2020, "sources": SOURCE}
                status = _send(http, ledger, "POST", "/cooperations", body)
                with ledger.lock:
                    if status == 201:
                        ledger.cooperations[coop_id] = party
                    elif status != "refused":
                        ledger.maybe_cooperations.add(coop_id)
            n += 1


def _burst(server: ServerProcess, key: dict[str, str], ledger: Ledger, round_no: int, rng: random.Random) -> None:
    """Writers at work; the server's group is killed after a seeded random delay."""
    threads = [threading.Thread(target=_writer, args=(server.base, key, ledger, w, round_no, random.Random(rng.random())))
               for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    time.sleep(rng.uniform(1.0, 3.0))
    server.kill()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)


# --- the checks ----------------------------------------------------------------------------------


def _check_store(settings: Settings, ledger: Ledger) -> set[str]:
    """The store, read directly, against the ledger; returns the stored ids."""
    with Registry.open(settings, init=False) as registry:
        stored = {o.id: o for o in registry.all_organisations()}
        cooperations = {c.id: c for c in registry.all_cooperations()}
    ids = set(stored)
    assert ledger.present <= ids, f"acknowledged profiles lost: {sorted(ledger.present - ids)}"
    assert not ledger.absent & ids, f"deleted or never-sent profiles stored: {sorted(ledger.absent & ids)}"
    assert ids <= FIXTURE_IDS | ledger.present | ledger.maybe, f"unexpected: {sorted(ids - FIXTURE_IDS - set(ledger.bodies))}"
    for org_id in ids - FIXTURE_IDS:
        _same_as_sent(stored[org_id], ledger)
    assert set(ledger.cooperations) <= set(cooperations), "acknowledged cooperations lost"
    assert set(cooperations) <= {c.id for c in COOPERATIONS} | set(ledger.cooperations) | ledger.maybe_cooperations
    assert all(c.eu in ids and c.mx in ids for c in cooperations.values())
    return ids


def _same_as_sent(org: Organisation, ledger: Ledger) -> None:
    """A stored writer profile is whole: every field as sent, the text as last changed (or a change cut off)."""
    sent = ledger.bodies[org.id]
    got = org.model_dump(mode="json", exclude_none=True)
    for name in ("name", "aliases", "side", "country", "type", "sectors", "sources"):
        assert got[name] == sent[name], (org.id, name, got[name], sent[name])
    assert org.description in ledger.descriptions[org.id], (org.id, org.description, ledger.descriptions[org.id])


def _check_service(server: ServerProcess, ids: set[str], ledger: Ledger) -> None:
    """Ready, in step with the store, a partner list for every profile, a 404 for every deleted one."""
    with httpx.Client(base_url=server.base, timeout=60, limits=FRESH) as http:
        for _ in range(2):  # new connections: both workers answer
            ready = http.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["index"]["indexed"] == len(ids)
        for org_id in sorted(ids):
            listed = http.get(f"/clusters/{org_id}/partners", params={"k": 100})
            assert listed.status_code == 200, (org_id, listed.text)
            shown = {p["id"] for p in listed.json()["items"]}
            assert shown <= ids, (org_id, sorted(shown - ids))
        for org_id in sorted(ledger.absent & set(ledger.bodies))[:20]:
            assert http.get(f"/clusters/{org_id}/partners").status_code == 404


def _check_saved_index(settings: Settings) -> None:
    """The index on disk holds exactly the stored profiles, with their current texts and filters."""
    with Registry.open(settings, init=False) as registry:
        orgs = registry.all_organisations()
    saved = VectorIndex.load(Path(settings.index_dir))
    wanted = ProfileSet.of(orgs, SimpleNamespace(name=saved.model_name), load_taxonomy())
    drift = Drift.between(saved, wanted)
    assert not drift, str(drift)
    assert set(saved.ids) == {o.id for o in orgs}


def test_kill_9_during_write_bursts_loses_no_acknowledged_write(served) -> None:
    server, settings, key = served
    ledger = Ledger()
    rng = random.Random(20261130)
    server.start()
    for round_no in range(ROUNDS):
        _burst(server, key, ledger, round_no, rng)
        ids = _check_store(settings, ledger)
        server.start()
        _check_service(server, ids, ledger)
    acknowledged = sum(v for k, v in ledger.answers.items() if k.split()[1][0] == "2")
    assert acknowledged >= 10 * ROUNDS, ledger.answers  # the bursts did write
    assert any(k.endswith(("cut", "refused")) for k in ledger.answers), ledger.answers
    unexpected = {k: v for k, v in ledger.answers.items() if k.split()[1] not in ("200", "201", "204", "cut", "refused")}
    assert not unexpected, ledger.answers
    server.stop()
    _check_saved_index(settings)
