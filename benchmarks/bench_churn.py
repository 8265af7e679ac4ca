"""Reads while others write, against the real server → ``results/churn.json``.

``c2c serve --workers 2`` on the shipped dataset (SQLite, bundled model) in a temporary
``C2C_HOME``. For ``--seconds`` (default 30), 8 connections write as fast as they can (each
loop: create a new profile with ``POST /clusters``; every third loop also change one of its own
profiles with ``PATCH``) while 4 connections read ``GET /clusters/{id}/partners?k=10`` for random
registered ids. Latency is per request, from send to last byte (closed loop); the CPU seconds
each server process used during the run are recorded too (``server_cpu_s``), since the
connections are shared out between the workers when they open. Afterwards every
profile acknowledged as created is read back (none may be missing), and the partner list of
the last one created must answer within 10 s (the background rebuild caught up; the wait is
recorded, up to 60 s).

The run is made twice: with background rebuilds (the ``c2c serve`` default) and without
(``C2C_BACKGROUND_REBUILD=false``: the first read after a write rebuilds), so the figures
show what the change buys. Targets: partners p99 under 50 ms and create p99 under 100 ms.

    python benchmarks/bench_churn.py              # both runs, about 3 minutes
    python benchmarks/bench_churn.py --seconds 10 # shorter
    python benchmarks/bench_churn.py --background-only --out /tmp/churn.json  # the served mode only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import CLI, RawClient, Server, _children, all_ids, loadavg, machine_speed, summarise  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "churn.json"
TARGETS = {"partners_p99_ms": 50.0, "create_p99_ms": 100.0}
FRESH_WAIT_S = 60.0  # how long to wait for the last created profile's suggestions (the target is 10 s)
SECTORS = ["wind", "solar", "aerospace", "auto-parts", "software", "agrifood", "mining", "medical-devices"]


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User and system CPU time each process has used so far (seconds)."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def write_key(home: Path) -> str:
    env = {**os.environ, "C2C_HOME": str(home)}
    env.pop("C2C_DATABASE_URL", None)
    done = subprocess.run(CLI + ["keys", "create", "--scope", "write", "--name", "churn"], env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


async def churn(base: str, key: str, ids: list[str], seconds: float, writers: int, readers: int) -> dict[str, Any]:
    stop = time.perf_counter() + seconds
    rng = random.Random(11)
    reads: dict[str, Any] = {"latencies": [], "errors": 0, "statuses": {}}
    creates: dict[str, Any] = {"latencies": [], "errors": 0, "statuses": {}}
    patches: dict[str, Any] = {"latencies": [], "errors": 0, "statuses": {}}
    created: list[str] = []

    async def timed(client: RawClient, out: dict, method: str, path: str, body: Any = None, ok: int = 200) -> bool:
        sent = time.perf_counter()
        try:
            status = await client.request(method, path, body)
        except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration):
            status = -1
        out["statuses"][status] = out["statuses"].get(status, 0) + 1
        if status == ok:
            out["latencies"].append(time.perf_counter() - sent)
            return True
        out["errors"] += 1
        return False

    async def writer(w: int) -> None:
        client = RawClient(base, 1, headers={"X-API-Key": key})
        mine: list[str] = []
        n = 0
        while time.perf_counter() < stop:
            org_id = f"churn-{w}-{n}"
            side = "EU" if n % 2 else "MX"
            body = {"id": org_id, "name": f"Churn Cluster {w} {n}", "side": side, "country": "ES" if side == "EU" else "MX",
                    "type": "cluster_organisation", "sectors": [SECTORS[(w + n) % len(SECTORS)]],
                    "description": f"Cluster {n} of writer {w}, working on {SECTORS[(w + n) % len(SECTORS)]} projects."}
            if await timed(client, creates, "POST", "/clusters", body, ok=201):
                mine.append(org_id)
                created.append(org_id)
            if n % 3 == 2 and mine:
                target = mine[len(mine) // 2]
                await timed(client, patches, "PATCH", f"/clusters/{target}", {"description": f"Changed at loop {n}."})
            n += 1
        await client.close()

    async def reader() -> None:
        client = RawClient(base, 1)
        while time.perf_counter() < stop:
            await timed(client, reads, "GET", f"/clusters/{rng.choice(ids)}/partners?k=10")
        await client.close()

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)), *(reader() for _ in range(readers)))
    wall = time.perf_counter() - start
    result = {name: summarise(out["latencies"], out["latencies"], out["errors"], out["statuses"], wall, None)
              for name, out in (("partners", reads), ("create", creates), ("patch", patches))}
    result["created"] = created
    return result


def scenario(home: Path, background: bool, seconds: float) -> dict[str, Any]:
    key = write_key(home)
    os.environ["C2C_BACKGROUND_REBUILD"] = "true" if background else "false"
    try:
        server = Server(CLI + ["serve", "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning",
                               "--workers", "2"], home)
    finally:
        os.environ.pop("C2C_BACKGROUND_REBUILD", None)
    try:
        server.wait_ready()
        ids = all_ids(server.base)
        with httpx.Client(base_url=server.base, timeout=60) as http:
            for org in ids[:50]:
                http.get(f"/clusters/{org}/partners", params={"k": 10})
        processes = [server.proc.pid] + _children(server.proc.pid)
        before = cpu_seconds(processes)
        out = asyncio.run(churn(server.base, key, ids, seconds, writers=8, readers=4))
        after = cpu_seconds(processes)
        # How the work spread over the processes (the connections are shared out when they open).
        out["server_cpu_s"] = sorted((round(after[p] - before[p], 1) for p in after if p in before), reverse=True)
        created = out.pop("created")
        with httpx.Client(base_url=server.base, timeout=60) as http:
            missing = [i for i in created if http.get(f"/clusters/{i}").status_code != 200]
            waited = time.perf_counter()
            fresh_after = None
            while time.perf_counter() - waited < FRESH_WAIT_S and created:
                if http.get(f"/clusters/{created[-1]}/partners", params={"k": 5}).status_code == 200:
                    fresh_after = round(time.perf_counter() - waited, 2)
                    break
                time.sleep(0.2)
        out.update(created_acknowledged=len(created), created_missing=len(missing),
                   last_created_suggested_after_s=fresh_after,
                   last_created_suggested_within_10s=fresh_after is not None and fresh_after <= 10,
                   memory=server.memory_mb())
        return out
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--background-only", action="store_true",
                        help="skip the run without background rebuilds (for quick comparisons; no ratio)")
    args = parser.parse_args()
    results: dict[str, Any] = {"benchmark": "churn", "python": platform.python_version(), "cpus": os.cpu_count(),
                               "load_average_start": loadavg(), "targets": TARGETS, "seconds": args.seconds,
                               "writers": 8, "readers": 4, "workers": 2, "python_loop_10m_s": machine_speed()}
    runs = (("background_rebuild", True),) if args.background_only else (("background_rebuild", True),
                                                                          ("rebuild_on_read", False))
    for name, background in runs:
        with tempfile.TemporaryDirectory(prefix="c2c-bench-churn-") as tmp:
            print(f"{name} ...", file=sys.stderr)
            results[name] = scenario(Path(tmp), background, args.seconds)
    served = results["background_rebuild"]
    results["targets_met"] = {
        "partners": served["partners"]["errors"] == 0 and served["partners"]["p99_ms"] < TARGETS["partners_p99_ms"],
        "create": served["create"]["errors"] == 0 and served["create"]["p99_ms"] < TARGETS["create_p99_ms"],
        "nothing_lost": served["created_missing"] == 0,
        "fresh_within_10s": served["last_created_suggested_within_10s"],
    }
    if "rebuild_on_read" in results:
        before = results["rebuild_on_read"]
        results["ratio_partners_p99_rebuild_on_read_to_background"] = round(
            before["partners"]["p99_ms"] / served["partners"]["p99_ms"], 1)
    results["load_average_end"] = loadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: results.get(k) for k in ("targets_met", "ratio_partners_p99_rebuild_on_read_to_background")}))
    for name, _ in runs:
        r = results[name]
        print(name, {k: (r[k]["median_ms"], r[k]["p99_ms"], r[k]["requests"], r[k]["errors"])
                     for k in ("partners", "create", "patch")})


if __name__ == "__main__":
    main()
