"""Event-planning benchmark: solver time, memory, quality against the upper bound, a greedy baseline.

Scenarios (seeded synthetic attendees, sector-overlap scores, requests and one-day attendance):

* ``2016``  — the shape of the October 2016 Mexico City matchmaking event: 40 European
  participants (14 cluster organisations, 26 companies) and 56 Mexican organisations in energy
  and environment sectors, 16 slots over two days, 30 tables, at most 8 meetings each.
* ``large`` — 500 participants (250 per side, any sector), 16 slots, 100 tables, at most 10 each.
* ``large_restricted`` — the same with 70% of the participants attending only two of the four
  sessions: the hard case for placing meetings in slots (the CP-SAT repair stage runs).

For each of these and each of 3 runs: ``plan_event`` (the score matrix is computed once,
outside the timing) and the greedy request-order baseline, both checked by ``verify_plan``; a
second solver run without requests, must-meets and bonuses, whose objective is the total score
itself, gives the total score against its own upper bound.

Scale scenarios ``scale`` (2,000, 5,000 and 10,000 participants, half per side, 16 slots,
participants / 5 tables, at most 10 meetings and at least 4 each, 20% attending one day, two
requests each, must-meets for 4% of them; and ``10000_restricted``, the 10,000 event with 70%
attending two of the four sessions only, run once): ``plan_event`` is timed from the
participants and the sector scorer, so pair scoring in blocks is inside the time, with the
default candidate count; the greedy baseline plans from the same candidates. Each measurement runs in its own
child process and reports that process's peak RSS (``ru_maxrss``) and its RSS before planning.

The candidate sweep plans the 2,000- and 10,000-participant events with 5 to 160 candidates per
participant (and every pair at 2,000): candidate pairs, upper bound, objective, total score,
time and peak memory. The bound over every pair is the true bound; the sweep shows how close
the bound over each candidate count comes to it.

The command line: ``c2c event plan --scorer sectors`` on files of 2,000 and 10,000 guest
participants, wall time from start to every file written, and peak RSS.

    python benchmarks/bench_events.py                   # everything, writes benchmarks/results/events.json
    python benchmarks/bench_events.py --runs 1          # quicker
    python benchmarks/bench_events.py --only scale      # one part: small, scale, sweep or cli
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from matcher.events import (  # noqa: E402
    Participant,
    PlanOptions,
    greedy_plan,
    make_event,
    plan_event,
    score_matrix,
    sector_scorer,
    synthetic_organisations,
    synthetic_wishes,
    verify_plan,
)
from matcher.events.candidates import candidate_matrix  # noqa: E402
from matcher.profiles import OrgType  # noqa: E402

ENERGY_ENVIRONMENT = ["renewable-energy", "solar", "wind", "geothermal", "bioenergy", "hydropower",
                      "energy-efficiency", "smart-grids", "water", "waste", "environment", "energy"]
SCENARIOS = {
    "2016": dict(eu_clusters=14, eu_companies=26, mx=56, tables=30, max_meetings=8, min_meetings=4,
                 sectors=ENERGY_ENVIRONMENT, must_meets=5),
    "large": dict(eu_clusters=0, eu_companies=250, mx=250, tables=100, max_meetings=10, min_meetings=4,
                  sectors=None, must_meets=20),
    "large_restricted": dict(eu_clusters=0, eu_companies=250, mx=250, tables=100, max_meetings=10, min_meetings=4,
                             sectors=None, must_meets=20, two_sessions_share=0.7),
}


def build(name: str, seed: int = 0):
    cfg = SCENARIOS[name]
    event = make_event(name=f"Benchmark {name}", days=[dt.date(2026, 10, 12), dt.date(2026, 10, 13)],
                       slots_per_day=8, breaks=[{"after_slot": 4, "minutes": 30}], tables=cfg["tables"],
                       max_meetings=cfg["max_meetings"], min_meetings=cfg["min_meetings"])
    orgs = (synthetic_organisations(cfg["eu_clusters"], 0, seed, cfg["sectors"], OrgType.CLUSTER, "cluster")
            + synthetic_organisations(cfg["eu_companies"], cfg["mx"], seed + 1, cfg["sectors"]))
    people = [Participant(organisation=o) for o in orgs]
    started = time.perf_counter()
    scores = score_matrix(orgs, sector_scorer)
    scoring_s = time.perf_counter() - started
    people, requests = synthetic_wishes(people, scores, event, seed=seed, must_meets=cfg["must_meets"])
    rng = np.random.default_rng(seed)
    sessions = [s.id for s in event.sessions()]
    for k in np.flatnonzero(rng.random(len(people)) < cfg.get("two_sessions_share", 0.0)):
        people[k] = people[k].model_copy(update={"available": sorted(rng.choice(sessions, 2, replace=False).tolist())})
    return event, people, requests, scores, scoring_s


def _timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def run_scenario(name: str, runs: int) -> dict:
    event, people, requests, scores, scoring_s = build(name)
    records = []
    for k in range(runs):
        plan, solve_s = _timed(lambda: plan_event(event, people, requests, scores, PlanOptions(seed=0, time_limit=10)))
        greedy, greedy_s = _timed(lambda: greedy_plan(event, people, requests, scores))
        pure = plan_event(event, [p.model_copy(update={"must_meet": []}) for p in people], [], scores,
                          PlanOptions(seed=0, min_bonus=0, request_bonus=0))
        records.append({
            "plan_s": solve_s, "greedy_s": greedy_s,
            "meetings": plan.stats.meetings, "greedy_meetings": greedy.stats.meetings,
            "total_score": plan.stats.total_score, "greedy_total_score": greedy.stats.total_score,
            "objective": plan.stats.objective, "greedy_objective": greedy.stats.objective,
            "upper_bound": plan.stats.upper_bound, "gap": plan.stats.gap,
            "score_only_total": pure.stats.total_score, "score_only_bound": pure.stats.upper_bound,
            "score_only_gap": pure.stats.gap,
            "reaching_min": plan.stats.reaching_min, "greedy_reaching_min": greedy.stats.reaching_min,
            "violations": len(verify_plan(plan, event, people, requests)),
            "greedy_violations": len(verify_plan(greedy, event, people, requests)),
            "score_only_violations": len(verify_plan(pure, event, people, [])),
            "issues": len(plan.issues), "unplaced_after_choice": plan.stats.unplaced_after_choice,
            "time_limited": plan.stats.time_limited,
            "accepted": plan.stats.requests["accepted"], "greedy_accepted": greedy.stats.requests["accepted"],
            "must_meet": plan.stats.requests["must_meet"], "spread": plan.stats.spread,
            "greedy_spread": greedy.stats.spread,
            "fingerprint": [(m.a, m.b, m.slot, m.table) for m in plan.meetings],
        })
    med = lambda key: statistics.median(r[key] for r in records)  # noqa: E731
    last = records[-1]
    return {
        "scenario": name,
        "participants": len(people), "slots": event.slot_count, "tables": event.tables,
        "capacity": event.capacity, "requests": len(requests), "candidate_pairs": plan.stats.candidate_pairs,
        "runs": runs, "scoring_s": round(scoring_s, 3),
        "plan_s_median": round(med("plan_s"), 3), "plan_s_max": round(max(r["plan_s"] for r in records), 3),
        "greedy_s_median": round(med("greedy_s"), 3),
        "meetings": med("meetings"), "greedy_meetings": med("greedy_meetings"),
        "total_score": round(med("total_score"), 4), "greedy_total_score": round(med("greedy_total_score"), 4),
        "objective": round(med("objective"), 4), "upper_bound": round(med("upper_bound"), 4), "gap": med("gap"),
        "score_only": {"total_score": med("score_only_total"), "upper_bound": med("score_only_bound"),
                       "gap": med("score_only_gap"), "violations": max(r["score_only_violations"] for r in records)},
        "ratio_total_score_solver_over_greedy": round(med("total_score") / med("greedy_total_score"), 4),
        "ratio_objective_solver_over_greedy": round(med("objective") / med("greedy_objective"), 4),
        "ratio_meetings_solver_over_greedy": round(med("meetings") / med("greedy_meetings"), 4),
        "reaching_min": med("reaching_min"), "greedy_reaching_min": med("greedy_reaching_min"),
        "accepted_requests": last["accepted"], "greedy_accepted_requests": last["greedy_accepted"],
        "must_meets": last["must_meet"], "spread": last["spread"], "greedy_spread": last["greedy_spread"],
        "violations": max(r["violations"] for r in records),
        "greedy_violations": max(r["greedy_violations"] for r in records),
        "constraint_issues": last["issues"], "unplaced_after_choice": last["unplaced_after_choice"],
        "deterministic": all(r["fingerprint"] == records[0]["fingerprint"] for r in records),
        "time_limited": any(r["time_limited"] for r in records),
        "peak_rss_mb": _rss_mb(),
    }


SCALE_SIZES = (2000, 5000, 10000)
SWEEP = {2000: [5, 10, 20, 40, 80, None], 10000: [5, 10, 20, 40, 80, 160]}
CLI_SIZES = (2000, 10000)


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def build_scale(n: int, seed: int = 0, restricted: float = 0.0):
    """The scale scenario for ``n`` participants: event, participants, requests (no score matrix);
    a ``restricted`` share of the participants attends only two of the four sessions."""
    event = make_event(name=f"Benchmark {n}", days=[dt.date(2026, 10, 12), dt.date(2026, 10, 13)],
                       slots_per_day=8, breaks=[{"after_slot": 4, "minutes": 30}], tables=n // 5,
                       max_meetings=10, min_meetings=4)
    orgs = synthetic_organisations(n // 2, n - n // 2, seed + 1)
    people = [Participant(organisation=o) for o in orgs]
    best = candidate_matrix(orgs, sector_scorer, 10)
    people, requests = synthetic_wishes(people, best, event, seed=seed, must_meets=n // 25)
    rng = np.random.default_rng(seed)
    sessions = [s.id for s in event.sessions()]
    for k in np.flatnonzero(rng.random(len(people)) < restricted):
        people[k] = people[k].model_copy(update={"available": sorted(rng.choice(sessions, 2, replace=False).tolist())})
    return event, people, requests


def run_scale(n: int, what: str, candidates: int | None = None, default: bool = False,
              restricted: float = 0.0) -> dict:
    """One measurement in this process: ``what`` is ``plan`` or ``greedy``."""
    event, people, requests = build_scale(n, restricted=restricted)
    before = _rss_mb()
    options = PlanOptions(seed=0, time_limit=10, candidates=None if default else (candidates or n))
    started = time.perf_counter()
    if what == "plan":
        plan = plan_event(event, people, requests, sector_scorer, options)
    else:
        plan = greedy_plan(event, people, requests, sector_scorer, options)
    seconds = time.perf_counter() - started
    peak = _rss_mb()
    st = plan.stats
    return {
        "participants": n, "slots": event.slot_count, "tables": event.tables, "capacity": event.capacity,
        "requests": len(requests), "candidates_per_participant": options.candidate_count(10),
        "candidate_pairs": st.candidate_pairs, "seconds": round(seconds, 3),
        "peak_rss_mb": peak, "rss_before_planning_mb": before,
        "meetings": st.meetings, "objective": st.objective, "upper_bound": st.upper_bound, "gap": st.gap,
        "total_score": st.total_score, "reaching_min": st.reaching_min,
        "accepted": st.requests["accepted"], "must_meet": st.requests["must_meet"],
        "unplaced_after_choice": st.unplaced_after_choice, "time_limited": st.time_limited,
        "violations": len(verify_plan(plan, event, people, requests)),
        "fingerprint": hashlib.sha256(
            json.dumps([(m.a, m.b, m.slot, m.table) for m in plan.meetings]).encode()).hexdigest(),
    }


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def scale_results(runs: int) -> dict:
    results = {}
    cases = [(str(n), n, []) for n in SCALE_SIZES] + [("10000_restricted", 10000, ["--restricted", "0.7"])]
    for key, n, extra in cases:
        repeat = runs if not extra else 1
        plans = [_child("--scale", str(n), "--what", "plan", "--default", *extra) for _ in range(repeat)]
        greedy = _child("--scale", str(n), "--what", "greedy", "--default", *extra)
        med = lambda key: statistics.median(r[key] for r in plans)  # noqa: E731
        last = plans[-1]
        r = {k: last[k] for k in ("participants", "slots", "tables", "capacity", "requests",
                                  "candidates_per_participant", "candidate_pairs", "meetings", "objective",
                                  "upper_bound", "gap", "total_score", "reaching_min", "accepted", "must_meet",
                                  "unplaced_after_choice")}
        r.update({
            "runs": repeat, "restricted_share": 0.7 if extra else 0.0,
            "plan_s_median": round(med("seconds"), 3), "plan_s_max": max(p["seconds"] for p in plans),
            "peak_rss_mb_median": med("peak_rss_mb"), "peak_rss_mb_max": max(p["peak_rss_mb"] for p in plans),
            "rss_before_planning_mb": last["rss_before_planning_mb"],
            "violations": max(p["violations"] for p in plans),
            "time_limited": any(p["time_limited"] for p in plans),
            "deterministic": len({p["fingerprint"] for p in plans}) == 1,
            "greedy_s": greedy["seconds"], "greedy_peak_rss_mb": greedy["peak_rss_mb"],
            "greedy_meetings": greedy["meetings"], "greedy_total_score": greedy["total_score"],
            "greedy_objective": greedy["objective"], "greedy_reaching_min": greedy["reaching_min"],
            "greedy_violations": greedy["violations"],
            "ratio_total_score_solver_over_greedy": round(last["total_score"] / greedy["total_score"], 4),
            "ratio_objective_solver_over_greedy": round(last["objective"] / greedy["objective"], 4),
        })
        results[key] = r
        print(f"scale {key}: {r['plan_s_median']:.1f} s, peak {r['peak_rss_mb_max']:.0f} MB, gap {r['gap']:.4%}, "
              f"{r['candidate_pairs']} candidate pairs, violations {r['violations']}, "
              f"score x{r['ratio_total_score_solver_over_greedy']:.3f} greedy", flush=True)
    return results


def sweep_results() -> dict:
    out: dict[str, list[dict]] = {}
    for n, counts in SWEEP.items():
        rows = []
        for k in counts:
            r = _child("--scale", str(n), "--what", "plan", "--candidates", str(k or n))
            r["candidates_per_participant"] = k or "all"
            r.pop("fingerprint")
            rows.append(r)
            print(f"sweep {n} k={k or 'all'}: {r['candidate_pairs']} pairs, bound {r['upper_bound']:.2f}, "
                  f"objective {r['objective']:.2f}, score {r['total_score']:.2f}, {r['seconds']:.1f} s, "
                  f"{r['peak_rss_mb']:.0f} MB", flush=True)
        top = max(rows, key=lambda r: r["upper_bound"])
        for r in rows:
            r["bound_over_largest_bound"] = round(r["upper_bound"] / top["upper_bound"], 6)
            r["objective_gap_to_largest_bound"] = round(1 - r["objective"] / top["upper_bound"], 6)
            r["total_score_over_largest"] = round(r["total_score"] / top["total_score"], 6)
        out[str(n)] = rows
    return out


def cli_child(argv: list[str]) -> None:
    from matcher.cli import main as c2c

    try:
        c2c(argv)
    except SystemExit as exc:
        if exc.code:
            raise
    print(json.dumps({"peak_rss_mb": _rss_mb()}))


def cli_results(runs: int) -> dict:
    out = {}
    work = Path(tempfile.mkdtemp(prefix="bench-events-cli-"))
    env = dict(os.environ, C2C_HOME=str(work / "home"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    try:
        for n in CLI_SIZES:
            path = work / f"guests-{n}.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["name", "side", "sectors", "country"])
                for o in synthetic_organisations(n // 2, n - n // 2, 1):
                    writer.writerow([o.name, o.side.value, ";".join(o.sectors), o.country])
            times, peaks = [], []
            for _ in range(runs):
                target = work / f"plan-{n}"
                shutil.rmtree(target, ignore_errors=True)
                started = time.perf_counter()
                child = subprocess.run(
                    [sys.executable, __file__, "--cli", "event", "plan", str(path), "--days", "2026-10-12,2026-10-13",
                     "--slots", "8", "--break-after", "4", "--tables", str(n // 5), "--max-meetings", "10",
                     "--min-meetings", "4", "--scorer", "sectors", "--out", str(target), "--format", "json"],
                    check=True, capture_output=True, text=True, env=env)
                times.append(time.perf_counter() - started)
                peaks.append(json.loads(child.stdout.strip().splitlines()[-1])["peak_rss_mb"])
            files = sum(1 for _ in (target / "agendas").iterdir())
            summary = json.loads((target / "summary.json").read_text(encoding="utf-8"))
            out[str(n)] = {"participants": n, "runs": runs, "wall_s_median": round(statistics.median(times), 2),
                           "wall_s_max": round(max(times), 2), "peak_rss_mb_max": max(peaks),
                           "agenda_files": files, "meetings": summary["meetings"], "gap": summary["quality"]["gap"],
                           "solve_seconds": summary["quality"]["solve_seconds"]}
            print(f"cli {n}: {out[str(n)]['wall_s_median']:.1f} s wall, peak {max(peaks):.0f} MB, {files} agenda files",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def small_results(runs: int) -> dict:
    results = {}
    for name in SCENARIOS:
        child = subprocess.run([sys.executable, __file__, "--scenario", name, "--runs", str(runs)],
                               check=True, capture_output=True, text=True)
        results[name] = json.loads(child.stdout)
        r = results[name]
        print(f"{name:>6}: {r['participants']} participants, {r['meetings']:.0f} meetings in {r['plan_s_median']:.2f} s "
              f"(gap {r['gap']:.3%}, score-only gap {r['score_only']['gap']:.3%}), violations {r['violations']}, "
              f"solver/greedy score x{r['ratio_total_score_solver_over_greedy']:.3f} "
              f"meetings x{r['ratio_meetings_solver_over_greedy']:.3f}, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--cli":
        cli_child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), help="run one scenario in this process")
    parser.add_argument("--scale", type=int, help="run one scale measurement in this process")
    parser.add_argument("--what", choices=["plan", "greedy"], default="plan")
    parser.add_argument("--candidates", type=int)
    parser.add_argument("--default", action="store_true", help="the default candidate count")
    parser.add_argument("--restricted", type=float, default=0.0, help="share attending two sessions only")
    parser.add_argument("--only", choices=["small", "scale", "sweep", "cli"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "events.json")
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario, args.runs)))
        return
    if args.scale:
        print(json.dumps(run_scale(args.scale, args.what, args.candidates, args.default, args.restricted)))
        return
    import ortools

    doc = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    doc.update({
        "benchmark": "events",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "ortools": ortools.__version__,
                    "platform": platform.platform()},
        "targets": {"large_plan_s": 10.0, "max_gap": 0.02, "violations": 0,
                    "scale_10000_plan_s": 30.0, "scale_10000_peak_rss_mb": 2048, "scale_max_gap": 0.005,
                    "cli_10000_s": 60.0, "cli_2000_s": 10.0},
    })
    load = {"start": os.getloadavg()}
    parts = {"small": lambda: small_results(args.runs), "scale": lambda: scale_results(args.runs),
             "sweep": sweep_results, "cli": lambda: cli_results(args.runs)}
    keys = {"small": "scenarios", "scale": "scale", "sweep": "candidate_sweep", "cli": "cli"}
    for part, run in parts.items():
        if args.only in (None, part):
            doc[keys[part]] = run()
    load["end"] = os.getloadavg()
    doc["load_average"] = {k: [round(x, 2) for x in v] for k, v in load.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
