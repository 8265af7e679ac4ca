"""Event-planning benchmark: solver time, quality against the upper bound, and a greedy baseline.

Scenarios (seeded synthetic attendees, sector-overlap scores, requests and one-day attendance):

* ``2016``  — the shape of the October 2016 Mexico City matchmaking event: 40 European
  participants (14 cluster organisations, 26 companies) and 56 Mexican organisations in energy
  and environment sectors, 16 slots over two days, 30 tables, at most 8 meetings each.
* ``large`` — 500 participants (250 per side, any sector), 16 slots, 100 tables, at most 10 each.
* ``large_restricted`` — the same with 70% of the participants attending only two of the four
  sessions: the hard case for placing meetings in slots (the CP-SAT repair stage runs).

For each scenario and each of 3 runs: ``plan_event`` (the score matrix is computed once,
outside the timing) and the greedy request-order baseline, both checked by ``verify_plan``; a
second solver run without requests, must-meets and bonuses, whose objective is the total score
itself, gives the total score against its own upper bound. Each scenario runs in a child process
so that its peak RSS is its own.

    python benchmarks/bench_events.py            # both scenarios, writes benchmarks/results/events.json
    python benchmarks/bench_events.py --runs 1   # quicker
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import statistics
import subprocess
import sys
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
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), help="run one scenario in this process")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "events.json")
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario, args.runs)))
        return
    results = {}
    for name in SCENARIOS:
        child = subprocess.run([sys.executable, __file__, "--scenario", name, "--runs", str(args.runs)],
                               check=True, capture_output=True, text=True)
        results[name] = json.loads(child.stdout)
        r = results[name]
        print(f"{name:>6}: {r['participants']} participants, {r['meetings']:.0f} meetings in {r['plan_s_median']:.2f} s "
              f"(gap {r['gap']:.3%}, score-only gap {r['score_only']['gap']:.3%}), violations {r['violations']}, "
              f"solver/greedy score x{r['ratio_total_score_solver_over_greedy']:.3f} "
              f"meetings x{r['ratio_meetings_solver_over_greedy']:.3f}, peak RSS {r['peak_rss_mb']:.0f} MB")
    import ortools

    doc = {
        "benchmark": "events", "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(),
                                           "ortools": ortools.__version__, "platform": platform.platform()},
        "targets": {"large_plan_s": 10.0, "max_gap": 0.02, "violations": 0},
        "scenarios": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
