"""The organiser's summary of a plan: a JSON-ready dict and a printable text version."""

from __future__ import annotations

from typing import Any

import numpy as np

from matcher.events.model import Plan


def score_histogram(plan: Plan, bins: int = 10) -> list[dict[str, float]]:
    """Meetings per score band ``[k/bins, (k+1)/bins)`` (the last band includes 1)."""
    counts, edges = np.histogram([m.score for m in plan.meetings], bins=bins, range=(0.0, 1.0))
    return [{"from": round(float(edges[k]), 3), "to": round(float(edges[k + 1]), 3), "meetings": int(counts[k])}
            for k in range(bins)]


def summary(plan: Plan) -> dict[str, Any]:
    """Everything an organiser checks first: volume, fairness, quality and the constraint report."""
    ev, st = plan.event, plan.stats
    return {
        "event": {
            "name": ev.name, "days": [d.isoformat() for d in ev.days], "slots": ev.slot_count,
            "sessions": [s.id for s in ev.sessions()], "meeting_minutes": ev.meeting_minutes,
            "tables": ev.tables, "capacity": ev.capacity, "timezone": ev.timezone,
        },
        "participants": st.participants,
        "meetings": st.meetings,
        "table_use": round(st.meetings / ev.capacity, 4) if ev.capacity else 0.0,
        "participants_without_meetings": [p.name for p in plan.participants if p.meetings == 0],
        "reaching_min": st.reaching_min,
        "below_min": [p.name for p in plan.participants if p.meetings < p.min_meetings],
        "meetings_per_participant": st.spread,
        "requests": st.requests,
        "score_distribution": {"quantiles": st.score_quantiles, "histogram": score_histogram(plan)},
        "quality": {
            "status": st.status, "objective": st.objective, "upper_bound": st.upper_bound, "gap": st.gap,
            "total_score": st.total_score, "solve_seconds": st.solve_seconds,
            "candidate_pairs": st.candidate_pairs, "unplaced_after_choice": st.unplaced_after_choice,
            "time_limited": st.time_limited,
        },
        "replanning": {"kept": st.kept_from_previous, "dropped": st.dropped_from_previous},
        "slot_utilisation": st.slot_utilisation,
        "constraint_report": [i.model_dump() for i in plan.issues],
    }


def summary_text(plan: Plan) -> str:
    """The summary as a few readable lines."""
    s = summary(plan)
    st = plan.stats
    spread = s["meetings_per_participant"]
    lines = [
        f"{s['event']['name']}: {s['meetings']} meetings for {s['participants']} participants "
        f"({s['table_use']:.0%} of {s['event']['capacity']} table slots)",
        f"meetings per participant: min {spread['min']:.0f}, median {spread['median']:.1f}, max {spread['max']:.0f}; "
        f"{st.reaching_min} of {st.participants} reach their minimum",
        "pair scores of the meetings: " + ", ".join(f"{k} {v:.3f}" for k, v in st.score_quantiles.items())
        + f"; total {st.total_score:.2f}",
        f"objective {st.objective:.2f} of at most {st.upper_bound:.2f} (gap {st.gap:.2%}, {st.status}"
        + (", stopped by the time limit" if st.time_limited else "") + f") in {st.solve_seconds:.1f} s",
    ]
    asked = ", ".join(f"{k.replace('_', ' ')} {v['planned']}/{v['asked']}" for k, v in st.requests.items() if v["asked"])
    if asked:
        lines.append(f"requests planned: {asked}")
    if s["participants_without_meetings"]:
        lines.append("without meetings: " + ", ".join(s["participants_without_meetings"]))
    if plan.issues:
        lines.append(f"constraint report ({len(plan.issues)}):")
        lines += [f"  - [{i.kind}] {i.message}" for i in plan.issues]
    else:
        lines.append("constraint report: every constraint met")
    return "\n".join(lines)
