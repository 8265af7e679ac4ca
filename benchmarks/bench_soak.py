"""A soak of the real server: mixed reads and writes at a steady rate → ``results/soak.json``.

``c2c serve --workers 2`` on the shipped dataset (SQLite, bundled model, rate limit off) in a
temporary ``C2C_HOME``, driven open loop at ``--rate`` requests per second (default 100) for
``--seconds`` (default 600). Each request's kind is drawn (seeded) from a fixed mix:

- reads, 80%: ``GET /clusters/{id}/partners`` 50% (random shipped id, random k from 1 to 50,
  now and then a sector or country filter, ``exclude_existing`` or ``diversify``),
  ``GET /clusters/{id}`` 27%, ``POST /match`` with a random profile 3%;
- writes, 20%, with a write key: ``POST /clusters`` 7%, ``DELETE /clusters/{id}`` 7% (the oldest
  of the run's own profiles), ``PATCH /clusters/{id}`` 5% (a new description for one of its own
  profiles), ``POST /cooperations`` 1% (one of its own European profiles with a shipped Mexican
  one; deleting the profile later deletes the cooperation too).

Creates and deletes balance, so the registry stays near its shipped size and memory growth
is not data growth. Reads go to shipped profiles only and a profile with a request in flight
is not written again until it is answered, so every request has one right answer and any
other status is an error. A patch or delete drawn while the run owns no profile is sent as a
create (only in the first seconds; the realised counts are recorded).

Recorded: errors by kind and status (a transport failure is status -1), latency median and p99
per kind (counted from when a request was due, so queueing counts) overall and per minute,
the server's resident memory (VmRSS summed over the supervisor and both workers) every
``--sample-every`` seconds, and memory growth from the first sample after ``--warmup`` seconds
to the end of the run. Targets: 0 errors and less than 10% memory growth after warm-up.

    python benchmarks/bench_soak.py                 # 10 minutes, 60,000 requests
    python benchmarks/bench_soak.py --seconds 60    # a check of the script
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import (
    CLI,
    RawClient,
    Server,
    all_ids,
    loadavg,
    match_requests,
    summarise,
)
from bench_churn import SECTORS, write_key

RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"
TARGETS = {"errors": 0, "memory_growth_pct_below": 10.0}
#: Kind -> share of requests; reads first.
MIX = {"partners": 0.50, "profile": 0.27, "match": 0.03,
       "create": 0.07, "delete": 0.07, "patch": 0.05, "cooperation": 0.01}
EXPECTED = {"partners": 200, "profile": 200, "match": 200, "create": 201, "delete": 204, "patch": 200,
            "cooperation": 201}
FILTER_SECTORS = ["energy", "aerospace", "automotive", "ict", "agrifood", "health", "advanced-manufacturing"]


class Workload:
    """Draws the next request (seeded) and keeps the run's own profiles, so that patches and
    deletes always name a profile that exists and has no other request in flight."""

    def __init__(self, ids: list[str], countries: list[str], mx_ids: list[str], seed: int):
        self.rng = random.Random(seed)
        self.ids, self.countries, self.mx_ids = ids, countries, mx_ids
        self.kinds, self.weights = list(MIX), list(MIX.values())
        self.own: list[str] = []  # acknowledged own profiles, oldest first
        self.busy: set[str] = set()  # own profiles with a request in flight
        self.with_cooperation: set[str] = set()
        self.match = match_requests(seed + 1)
        self.created = 0

    def next(self, i: int) -> tuple[str, str, str, Any, str | None]:
        """(kind, method, path, body, own profile written or None)."""
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "partners":
            return kind, "GET", self._partners_path(), None, None
        if kind == "profile":
            return kind, "GET", f"/clusters/{self.rng.choice(self.ids)}", None, None
        if kind == "match":
            _, path, body = self.match(i)
            return kind, "POST", path, body, None
        free = [o for o in self.own if o not in self.busy]
        if kind == "delete" and free:
            target = free[0]
            return kind, "DELETE", f"/clusters/{target}", None, target
        if kind == "patch" and free:
            target = self.rng.choice(free)
            return kind, "PATCH", f"/clusters/{target}", {"description": f"Changed by soak request {i}."}, target
        if kind == "cooperation":
            eu = [o for o in free if o.startswith("soak-eu-") and o not in self.with_cooperation]
            if eu:
                party = self.rng.choice(eu)
                body = {"eu": party, "mx": self.rng.choice(self.mx_ids), "type": "delegation_visit", "year": 2024,
                        "description": "Recorded by the soak benchmark."}
                return kind, "POST", "/cooperations", body, party
        return "create", "POST", "/clusters", self._profile(), None

    def answered(self, kind: str, target: str | None, body: Any, status: int) -> None:
        """Update the run's own profiles from an answer."""
        if kind == "create" and status == 201:
            self.own.append(body["id"])
        if target is None:
            return
        self.busy.discard(target)
        if kind == "delete" and status == 204:
            self.own.remove(target)
            self.with_cooperation.discard(target)
        elif kind == "cooperation" and status == 201:
            self.with_cooperation.add(target)

    def _partners_path(self) -> str:
        query = f"k={self.rng.randint(1, 50)}"
        roll = self.rng.random()
        if roll < 0.25:
            query += f"&sector={self.rng.choice(FILTER_SECTORS)}"
        elif roll < 0.4:
            query += f"&country={self.rng.choice(self.countries)}"
        if self.rng.random() < 0.2:
            query += "&exclude_existing=true"
        if self.rng.random() < 0.1:
            query += "&diversify=true"
        return f"/clusters/{self.rng.choice(self.ids)}/partners?{query}"

    def _profile(self) -> dict[str, Any]:
        n = self.created
        self.created += 1
        side = "EU" if n % 2 else "MX"
        sector = SECTORS[n % len(SECTORS)]
        return {"id": f"soak-{side.lower()}-{n}", "name": f"Soak Cluster {n}", "side": side,
                "country": self.rng.choice(["ES", "DE", "FR", "IT"]) if side == "EU" else "MX",
                "type": "cluster_organisation", "sectors": [sector],
                "description": f"Cluster {n} of the soak run, working on {sector} projects with its members."}


async def soak(server: Server, key: str, ids: list[str], countries: list[str], mx_ids: list[str],
               args: argparse.Namespace) -> dict[str, Any]:
    """Run the open loop; returns every request's record and the memory samples."""
    reads = RawClient(server.base, max_connections=256)
    # Writes go through httpx (the raw client reads only answers with a Content-Length, and a 204
    # has none), each on a new connection: a write sent on a kept-alive connection just as the
    # server closes it for idleness would fail without reaching the server.
    writes = httpx.AsyncClient(base_url=server.base, headers={"X-API-Key": key}, timeout=300,
                               limits=httpx.Limits(max_connections=256, max_keepalive_connections=0))
    failures: dict[str, int] = {}
    work = Workload(ids, countries, mx_ids, args.seed)
    records: list[tuple[str, float, float, float, int]] = []  # kind, due (s from start), latency, service, status
    samples: list[dict[str, Any]] = []
    start = time.perf_counter() + 0.05
    n = int(args.seconds * args.rate)

    async def one(i: int, due: float) -> None:
        kind, method, path, body, target = work.next(i)
        if target is not None:
            work.busy.add(target)
        sent = time.perf_counter()
        try:
            if kind in ("partners", "profile", "match"):
                status = await reads.request(method, path, body)
            else:
                status = (await writes.request(method, path, json=body)).status_code
        except (OSError, asyncio.IncompleteReadError, ValueError, httpx.TransportError) as exc:
            status = -1
            failures[f"{kind} {type(exc).__name__}"] = failures.get(f"{kind} {type(exc).__name__}", 0) + 1
        end = time.perf_counter()
        work.answered(kind, target, body, status)
        records.append((kind, due - start, end - due, end - sent, status))

    async def sampler() -> None:
        while True:
            samples.append({"t_s": round(time.perf_counter() - start, 1), **server.memory_mb(),
                            "in_flight": len(tasks) - len(records), "own_profiles": len(work.own),
                            "load_average": loadavg()})
            await asyncio.sleep(args.sample_every)

    tasks: list[asyncio.Task] = []
    watcher = asyncio.create_task(sampler())
    for i in range(n):
        due = start + i / args.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    watcher.cancel()
    samples.append({"t_s": round(time.perf_counter() - start, 1), **server.memory_mb(), "in_flight": 0,
                    "own_profiles": len(work.own), "load_average": loadavg()})
    await reads.close()
    await writes.aclose()
    return {"records": records, "samples": samples, "failures": failures, "wall_s": time.perf_counter() - start}


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def report(records: list[tuple[str, float, float, float, int]], wall: float) -> dict[str, Any]:
    """Errors by kind and status; latency per kind overall and per minute."""
    overall, per_minute, errors = {}, [], {}
    for kind in MIX:
        mine = [r for r in records if r[0] == kind]
        ok = [r for r in mine if r[4] == EXPECTED[kind]]
        statuses: dict[int, int] = {}
        for r in mine:
            statuses[r[4]] = statuses.get(r[4], 0) + 1
        overall[kind] = summarise([r[2] for r in ok], [r[3] for r in ok], len(mine) - len(ok), statuses, wall,
                                  round(len(mine) / wall, 2) if wall else None)
        bad = {str(s): c for s, c in statuses.items() if s != EXPECTED[kind]}
        if bad:
            errors[kind] = bad
    for minute in range(int(max((r[1] for r in records), default=0) // 60) + 1):
        row: dict[str, Any] = {"minute": minute}
        for kind in MIX:
            mine = [r for r in records if r[0] == kind and minute * 60 <= r[1] < (minute + 1) * 60]
            ok = [r[2] for r in mine if r[4] == EXPECTED[kind]]
            row[kind] = {"n": len(mine), "errors": len(mine) - len(ok), "median_ms": _pct(ok, 50),
                         "p99_ms": _pct(ok, 99)}
        per_minute.append(row)
    return {"by_kind": overall, "per_minute": per_minute, "errors_by_kind_and_status": errors,
            "errors": sum(sum(v.values()) for v in errors.values())}


def memory_growth(samples: list[dict[str, Any]], warmup: float) -> dict[str, Any]:
    """Growth of the summed VmRSS from the first sample at or after ``warmup`` s to the last one."""
    after = [s for s in samples if s["t_s"] >= warmup] or samples[-1:]
    base, last = after[0]["rss_mb"], after[-1]["rss_mb"]
    slope = float(np.polyfit([s["t_s"] for s in after], [s["rss_mb"] for s in after], 1)[0]) * 60 if len(after) > 2 else None
    return {"baseline_t_s": after[0]["t_s"], "baseline_rss_mb": base, "final_rss_mb": last,
            "max_rss_mb_after_warmup": max(s["rss_mb"] for s in after),
            "growth_pct": round(100 * (last - base) / base, 1),
            "max_growth_pct": round(100 * (max(s["rss_mb"] for s in after) - base) / base, 1),
            "slope_mb_per_minute": round(slope, 2) if slope is not None else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second, all kinds together")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the memory baseline")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between memory samples")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "benchmark": "soak", "python": platform.python_version(), "cpus": os.cpu_count(),
        "load_average_start": loadavg(), "targets": TARGETS, "seconds": args.seconds, "rate_per_s": args.rate,
        "mix": MIX, "warmup_s": args.warmup, "seed": args.seed,
        "server": "c2c serve --workers 2, shipped dataset, SQLite, bundled model, rate limit off",
    }
    with tempfile.TemporaryDirectory(prefix="c2c-bench-soak-") as tmp:
        home = Path(tmp)
        key = write_key(home)
        server = Server(CLI + ["serve", "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning",
                               "--workers", "2"], home)
        try:
            results["startup_to_ready_s"] = round(server.wait_ready(), 1)
            ids = all_ids(server.base)
            with httpx.Client(base_url=server.base, timeout=60) as http:
                shipped = [http.get(f"/clusters/{i}").json() for i in ids]
            countries = sorted({o["country"] for o in shipped})
            mx_ids = [o["id"] for o in shipped if o["side"] == "MX"]
            results["organisations_start"] = len(ids)
            results["memory_before_load"] = server.memory_mb()
            print(f"soak: {args.seconds:.0f} s at {args.rate:.0f} requests/s ...", file=sys.stderr)
            run = asyncio.run(soak(server, key, ids, countries, mx_ids, args))
            with httpx.Client(base_url=server.base, timeout=60) as http:
                results["organisations_end"] = http.get("/clusters", params={"limit": 1}).json()["total"]
                results["ready_after"] = http.get("/ready").status_code
        finally:
            server.stop()
    results.update(report(run["records"], run["wall_s"]))
    results["transport_failures"] = run["failures"]
    results["wall_s"] = round(run["wall_s"], 1)
    results["requests"] = len(run["records"])
    results["memory_samples"] = run["samples"]
    results["memory"] = memory_growth(run["samples"], args.warmup)
    results["targets_met"] = {"errors": results["errors"] == 0,
                              "memory_growth": results["memory"]["growth_pct"] < TARGETS["memory_growth_pct_below"]}
    results["load_average_end"] = loadavg()
    results["note"] = ("client and server share the 2-core machine; open-loop latency counts from when a request "
                       "was due; an error is any answer other than the kind's success status, or a transport failure")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: results[k] for k in ("targets_met", "errors", "memory", "requests", "load_average_start",
                                              "load_average_end")}, indent=2))
    for kind, s in results["by_kind"].items():
        print(f"{kind:12s} n={s['requests']:6d} errors={s['errors']:4d} median={s['median_ms']} ms p99={s['p99_ms']} ms")


if __name__ == "__main__":
    main()
