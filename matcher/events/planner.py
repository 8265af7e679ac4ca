"""``plan_event``: the pure planning function (event + participants + scores -> plan).

Same input and seed give the same plan: participants are sorted by id, candidate pairs are
enumerated in index order and CP-SAT runs single-threaded under a deterministic time limit.
Re-planning with ``previous_plan`` keeps still-valid meetings (and their slots and tables)
wherever possible: they carry a bonus larger than any three new suggestions together.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from matcher.events.model import (
    Event,
    Meeting,
    MeetingRequest,
    Origin,
    Participant,
    Plan,
    PlanOptions,
    PlanParticipant,
    PlanStats,
)
from matcher.events.problem import Problem, build_problem
from matcher.events.candidates import Scores
from matcher.events.solve import choose, fill, objective, place, relaxation
from matcher.profiles import Side

_RANK = {Origin.MUST_MEET: 0, Origin.ACCEPTED: 1, Origin.REQUESTED: 2, Origin.SUGGESTED: 3}


def plan_event(
    event: Event,
    participants: Sequence[Participant],
    requests: Sequence[MeetingRequest],
    scores: Scores,
    options: PlanOptions | None = None,
    previous_plan: Plan | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """Plan the meetings of an event.

    ``scores`` is a scorer, a pair-score matrix (see :func:`matcher.events.scoring.score_matrix`)
    or a sparse matrix of candidate pairs; only each participant's best counterparts are
    planned from (``options.candidates``, see :func:`matcher.events.problem.build_problem`).
    Constraints that cannot be met are listed in ``Plan.issues``; user errors in the input
    (duplicate participants, unknown sessions) raise :class:`matcher.errors.EventError`.
    """
    started = time.perf_counter()
    options = options or PlanOptions()
    say = progress or (lambda _stage: None)
    say("reading participants and scores")
    prob = build_problem(event, participants, requests, scores, options, previous_plan)
    say(f"bounding ({len(prob.pairs)} candidate pairs)")
    bound, lp_x, tolerance = relaxation(prob)
    budget = options.time_limit
    say("choosing meetings")
    previous_slot = {e: prob.kept_pairs[p][0] for e, p in enumerate(prob.pairs)
                     if p in prob.kept_pairs and prob.kept_pairs[p][0] >= 0}
    deadline = started + 0.9 * budget
    chosen, cut_choice = choose(prob, lp_x, 0.3 * budget, deadline)
    say(f"placing {len(chosen)} meetings in {event.slot_count} slots")
    placed, cut_place = place(prob, chosen, 0.6 * budget, previous_slot, deadline)
    unplaced = len(set(chosen) - set(placed))
    say("filling spare tables")
    placed = fill(prob, placed)
    plan = assemble(prob, placed, bound, unplaced, previous_plan, started, cut_choice or cut_place, tolerance)
    say("done")
    return plan


def assemble(prob: Problem, placed: dict[int, int], bound: float, unplaced: int, previous_plan: Plan | None,
             started: float, time_limited: bool = False, tolerance: float = 0.0) -> Plan:
    """Turn a placement (pair index -> slot) into a :class:`Plan` with tables and figures."""
    meetings = _meetings(prob, placed)
    _report_unscheduled(prob, placed)
    value = objective(prob, placed)
    stats = _stats(prob, meetings, value, bound, len(prob.pairs), unplaced, previous_plan,
                   time.perf_counter() - started, tolerance)
    stats.time_limited = time_limited
    return Plan(event=prob.event, options=prob.options, participants=_people(prob, meetings), meetings=meetings,
                issues=list(prob.issues), stats=stats)


def _tables(prob: Problem, placed: dict[int, int]) -> dict[int, int]:
    """Table numbers per slot: previous tables where still free, then the lowest free one."""
    by_slot: dict[int, list[int]] = {}
    for e, s in placed.items():
        by_slot.setdefault(s, []).append(e)
    table: dict[int, int] = {}
    for s, edges in sorted(by_slot.items()):
        edges.sort(key=lambda e: (_RANK[prob.origin[e]], prob.pairs[e]))
        taken: set[int] = set()
        for e in edges:
            prev = prob.kept_pairs.get(prob.pairs[e])
            if prev and prev[0] == s and 1 <= prev[1] <= prob.event.tables and prev[1] not in taken:
                table[e] = prev[1]
                taken.add(prev[1])
        free = (t for t in range(1, prob.event.tables + 1) if t not in taken)
        for e in edges:
            if e not in table:
                table[e] = next(free)
    return table


def _meetings(prob: Problem, placed: dict[int, int]) -> list[Meeting]:
    slots = prob.event.slots()
    table = _tables(prob, placed)
    out = []
    for e, s in placed.items():
        i, j = prob.pairs[e]
        pi, pj = prob.participants[i], prob.participants[j]
        if pj.side is Side.EU and pi.side is Side.MX:
            pi, pj = pj, pi
        out.append(Meeting(slot=s, table=table[e], start=slots[s].start, end=slots[s].end, a=pi.id, b=pj.id,
                           score=round(prob.score[e], 6), origin=prob.origin[e],
                           kept=(i, j) in prob.kept_pairs))
    return sorted(out, key=lambda m: (m.slot, m.table))


def _report_unscheduled(prob: Problem, placed: dict[int, int]) -> None:
    for e, origin in enumerate(prob.origin):
        if origin in (Origin.MUST_MEET, Origin.ACCEPTED) and e not in placed:
            a, b = (prob.name(k) for k in prob.pairs[e])
            prob.issue(f"{origin.value}_unscheduled", [a, b], f"{a} and {b} ({origin.value}) could not be "
                       "placed: their common free slots are taken by other must-meet or accepted meetings")


def _people(prob: Problem, meetings: list[Meeting]) -> list[PlanParticipant]:
    count: dict[str, int] = {}
    for m in meetings:
        count[m.a] = count.get(m.a, 0) + 1
        count[m.b] = count.get(m.b, 0) + 1
    return [
        PlanParticipant(id=p.id, name=p.name, side=p.side, country=p.organisation.country,
                        type=p.organisation.type.value, available_slots=len(prob.avail[i]),
                        max_meetings=int(prob.cap[i]), min_meetings=int(prob.minimum[i]),
                        meetings=count.get(p.id, 0))
        for i, p in enumerate(prob.participants)
    ]


def _stats(prob: Problem, meetings: list[Meeting], value: float, bound: float, candidates: int, unplaced: int,
           previous: Plan | None, seconds: float, tolerance: float = 0.0) -> PlanStats:
    count = np.zeros(prob.n, dtype=np.int64)
    index = {p.id: i for i, p in enumerate(prob.participants)}
    for m in meetings:
        count[index[m.a]] += 1
        count[index[m.b]] += 1
    scores = np.array([m.score for m in meetings]) if meetings else np.zeros(1)
    per_slot = np.bincount([m.slot for m in meetings], minlength=prob.event.slot_count)
    now = {m.pair for m in meetings} | {(m.b, m.a) for m in meetings}
    before = [(m.a, m.b) for m in previous.meetings] if previous else []
    kept = sum(1 for pair in before if pair in now)
    spread = {"min": float(count.min()), "median": float(np.median(count)), "mean": float(count.mean()),
              "max": float(count.max())} if prob.n else {"min": 0.0, "median": 0.0, "mean": 0.0, "max": 0.0}
    gap = max(0.0, (bound - value) / bound) if bound > 0 else 0.0
    return PlanStats(
        status="optimal" if value >= bound - tolerance - 1e-9 else "feasible",
        objective=round(value, 6), upper_bound=round(bound, 6), gap=round(gap, 6),
        total_score=round(float(sum(m.score for m in meetings)), 6), meetings=len(meetings),
        capacity=prob.event.capacity, candidate_pairs=candidates, participants=prob.n,
        participants_without_meetings=int((count == 0).sum()),
        reaching_min=int((count >= prob.minimum).sum()),
        spread=spread,
        score_quantiles={q: round(float(np.quantile(scores, v)), 6) for q, v in
                         (("min", 0), ("p25", 0.25), ("median", 0.5), ("p75", 0.75), ("max", 1))},
        slot_utilisation=[round(float(u) / prob.event.tables, 4) for u in per_slot],
        requests={o.value: {"asked": sum(1 for x in prob.origin if x is o),
                            "planned": sum(1 for m in meetings if m.origin is o)}
                  for o in (Origin.MUST_MEET, Origin.ACCEPTED, Origin.REQUESTED)},
        unplaced_after_choice=unplaced, kept_from_previous=kept, dropped_from_previous=len(before) - kept,
        solve_seconds=round(seconds, 3),
    )
