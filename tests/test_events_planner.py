"""Planner rules: availability, slots, tables, caps, wishes, requests, determinism, re-planning."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.errors import EventError
from matcher.events import (
    MeetingRequest,
    Origin,
    PlanOptions,
    greedy_plan,
    plan_event,
    sector_scorer,
    verify_plan,
)
from tests.events_fixtures import DAY1, DAY2, crowd, event, person


def _pairs(plan):
    return {frozenset(m.pair) for m in plan.meetings}


def _met(plan, a, b):
    return frozenset((a, b)) in _pairs(plan)


def test_unavailable_participant_never_meets_in_that_session():
    ev = event(days=[DAY1, DAY2], slots_per_day=4, tables=4)
    people, scores = crowd(4, 4)
    people[0] = people[0].model_copy(update={"available": ["2026-10-12/1"]})
    people[5] = people[5].model_copy(update={"unavailable": ["2026-10-13"]})
    plan = plan_event(ev, people, [], scores)
    slots = ev.slots()
    first = [m for m in plan.meetings if "eu-00" in m.pair]
    assert first and all(slots[m.slot].session == "2026-10-12/1" for m in first)
    assert all(slots[m.slot].day == DAY1 for m in plan.meetings if "mx-01" in m.pair)
    assert plan.participant("eu-00").available_slots == 2
    assert verify_plan(plan, ev, people, []) == []


def test_slots_tables_and_caps_hold_when_capacity_binds():
    ev = event(slots_per_day=6, tables=3, max_meetings=4)
    people, scores = crowd(8, 9, seed=3)
    people[2] = people[2].model_copy(update={"max_meetings": 1})
    plan = plan_event(ev, people, [], scores)
    per_slot = Counter(m.slot for m in plan.meetings)
    assert plan.stats.meetings == ev.capacity == 18
    assert max(per_slot.values()) <= 3
    busy = Counter((p, m.slot) for m in plan.meetings for p in m.pair)
    assert max(busy.values()) == 1
    count = Counter(p for m in plan.meetings for p in m.pair)
    assert max(count.values()) <= 4 and count["eu-02"] <= 1
    assert len({(m.slot, m.table) for m in plan.meetings}) == len(plan.meetings)
    assert all(1 <= m.table <= 3 for m in plan.meetings)
    assert verify_plan(plan, ev, people, []) == []
    assert plan.stats.objective <= plan.stats.upper_bound + 1e-9
    assert plan.stats.status == "optimal"


def test_cross_border_only_by_default_and_same_side_on_request():
    people, _ = crowd(3, 3)
    scores = np.full((6, 6), 0.9)
    plan = plan_event(event(tables=3), people, [], scores)
    side = {p.id: p.side for p in people}
    assert plan.meetings and all(side[m.a] is not side[m.b] for m in plan.meetings)
    both = plan_event(event(tables=3), people, [], scores, PlanOptions(same_side=True))
    assert any(side[m.a] is side[m.b] for m in both.meetings)
    assert verify_plan(both, event(tables=3), people, []) == []


def test_will_not_meet_is_never_planned_even_for_the_best_pair():
    people, scores = crowd(2, 2)
    scores[0, 0] = 1.0
    people[0] = people[0].model_copy(update={"will_not_meet": ["Mx 00"]})
    plan = plan_event(event(), people, [], scores)
    assert not _met(plan, "eu-00", "mx-00")
    assert _met(plan, "eu-00", "mx-01")


def test_must_meet_is_planned_over_better_pairs():
    ev = event(slots_per_day=2, breaks=[], tables=1)
    people, scores = crowd(2, 2)
    scores[:] = [[0.9, 0.01], [0.9, 0.9]]
    people[0] = people[0].model_copy(update={"must_meet": ["mx-01"]})
    plan = plan_event(ev, people, [], scores)
    must = [m for m in plan.meetings if m.origin is Origin.MUST_MEET]
    assert [frozenset(m.pair) for m in must] == [frozenset(("eu-00", "mx-01"))]
    assert plan.stats.requests["must_meet"] == {"asked": 1, "planned": 1}


def test_impossible_must_meet_is_reported_by_name_and_the_rest_planned():
    ev = event(days=[DAY1, DAY2])
    people, scores = crowd(2, 2)
    people[0] = people[0].model_copy(update={"available": ["2026-10-12"], "must_meet": ["mx-00"]})
    people[2] = people[2].model_copy(update={"available": ["2026-10-13"]})
    plan = plan_event(ev, people, [], scores)
    issue = next(i for i in plan.issues if i.kind == "must_meet_impossible")
    assert issue.participants == ["Eu 00", "Mx 00"]
    assert "Eu 00" in issue.message and "Mx 00" in issue.message
    assert plan.stats.meetings > 0
    assert verify_plan(plan, ev, people, []) == []


def test_accepted_requests_come_first_and_overflow_is_reported():
    ev = event(slots_per_day=2, breaks=[], tables=4)
    people, scores = crowd(1, 4)
    scores[:] = [[0.95, 0.9, 0.05, 0.04]]
    requests = [MeetingRequest(requester="eu-00", target=t, status="accepted") for t in ("mx-02", "mx-03", "mx-01")]
    plan = plan_event(ev, people, requests, scores)
    assert len(plan.meetings) == 2
    assert all(m.origin is Origin.ACCEPTED for m in plan.meetings)
    assert not _met(plan, "eu-00", "mx-00")
    over = [i for i in plan.issues if i.kind == "over_capacity"]
    assert over and over[0].participants == ["Eu 00"]
    assert plan.stats.requests["accepted"] == {"asked": 3, "planned": 2}


def test_declined_requests_and_unknown_names_in_requests():
    people, scores = crowd(2, 2)
    scores[0, 0] = 1.0
    requests = [
        MeetingRequest(requester="mx-00", target="eu-00", status="declined"),
        MeetingRequest(requester="Nobody Ltd", target="eu-01", status="accepted"),
        MeetingRequest(requester="eu-01", target="Mx 01", status="requested"),
    ]
    plan = plan_event(event(), people, requests, scores)
    assert not _met(plan, "eu-00", "mx-00")
    unknown = [i for i in plan.issues if i.kind == "unknown_participant"]
    assert [i.participants for i in unknown] == [["Nobody Ltd"]]
    assert any(m.origin is Origin.REQUESTED and set(m.pair) == {"eu-01", "mx-01"} for m in plan.meetings)
    assert verify_plan(plan, event(), people, requests) == []


def test_exclude_pairs_skips_known_cooperations_unless_requested():
    people, scores = crowd(2, 2)
    scores[:] = 0.9
    opts = PlanOptions(exclude_pairs=[("eu-00", "mx-00"), ("eu-01", "mx-01")])
    req = [MeetingRequest(requester="eu-01", target="mx-01")]
    plan = plan_event(event(), people, req, scores, opts)
    assert not _met(plan, "eu-00", "mx-00") and _met(plan, "eu-01", "mx-01")
    assert verify_plan(plan, event(), people, req) == []


def test_minimum_meetings_are_spread_before_adding_best_pairs():
    ev = event(slots_per_day=4, breaks=[], tables=2, min_meetings=2)
    people, scores = crowd(2, 4)
    scores[:] = [[1.0, 1.0, 0.1, 0.1], [1.0, 1.0, 0.1, 0.1]]
    plan = plan_event(ev, people, [], scores)
    count = Counter(p for m in plan.meetings for p in m.pair)
    assert plan.stats.reaching_min == sum(1 for p in people if count[p.id] >= 2)
    assert count["eu-00"] >= 2 and count["eu-01"] >= 2
    assert all(count[f"mx-0{k}"] >= 1 for k in range(4))


def test_same_seed_gives_the_same_plan():
    people, _ = crowd(9, 11, seed=5)
    people[1] = people[1].model_copy(update={"available": ["2026-10-12/2"]})
    ev = event(slots_per_day=6, breaks=[{"after_slot": 3, "minutes": 15}], tables=4, max_meetings=5)
    for opts in (PlanOptions(seed=7), PlanOptions(seed=7, same_side=True)):
        full = np.random.default_rng(1).uniform(size=(20, 20))
        one = plan_event(ev, people, [], full, opts)
        two = plan_event(ev, list(reversed(people)), [], full[::-1, ::-1], opts)
        assert [m.model_dump() for m in one.meetings] == [m.model_dump() for m in two.meetings]
        assert one.issues == two.issues
        assert verify_plan(one, ev, people, []) == []


def test_replanning_keeps_still_valid_meetings_in_place():
    ev = event(days=[DAY1, DAY2], slots_per_day=4, tables=5, max_meetings=4)
    people, scores = crowd(6, 6, seed=2)
    first = plan_event(ev, people, [], scores)
    gone = "eu-03"
    now = [p for p in people if p.id != gone] + [person("eu-late", "EU", name="Late Arrival")]
    eu = [p for p in now if p.side.value == "EU"]
    late_scores = np.vstack([scores[[int(p.id[3:]) for p in eu[:-1]]], np.full((1, 6), 0.99)])
    again = plan_event(ev, now, [], late_scores, previous_plan=first)
    before = {frozenset(m.pair): (m.slot, m.table) for m in first.meetings if gone not in m.pair}
    after = {frozenset(m.pair): (m.slot, m.table) for m in again.meetings}
    assert all(after.get(pair) == where for pair, where in before.items())
    assert again.stats.kept_from_previous == len(before)
    assert again.stats.dropped_from_previous == len(first.meetings) - len(before) > 0
    assert all(m.kept == (frozenset(m.pair) in before) for m in again.meetings)
    assert any("eu-late" in m.pair for m in again.meetings)
    assert verify_plan(again, ev, now, []) == []


def test_replanning_moves_a_kept_meeting_when_its_slot_is_gone():
    ev = event(slots_per_day=4, breaks=[{"after_slot": 2, "minutes": 30}], tables=2)
    people, scores = crowd(1, 1)
    first = plan_event(ev, people, [], scores)
    (m,) = first.meetings
    session = ev.slots()[m.slot].session
    other = "2026-10-12/2" if session.endswith("/1") else "2026-10-12/1"
    people[0] = people[0].model_copy(update={"available": [other]})
    again = plan_event(ev, people, [], scores, previous_plan=first)
    (n,) = again.meetings
    assert n.kept and ev.slots()[n.slot].session == other


def test_duplicate_participant_and_unknown_session_are_user_errors():
    people, scores = crowd(1, 1)
    with pytest.raises(EventError, match="appears twice"):
        plan_event(event(), people + people[:1], [], np.zeros((3, 3)))
    people[0] = people[0].model_copy(update={"available": ["2026-12-01/9"]})
    with pytest.raises(EventError, match="Eu 00.*available"):
        plan_event(event(), people, [], scores)
    with pytest.raises(EventError, match="shape"):
        plan_event(event(), crowd(1, 1)[0], [], np.zeros((3, 2)))


def test_verify_plan_finds_broken_rules():
    ev = event(tables=2)
    people, scores = crowd(2, 2)
    people[0] = people[0].model_copy(update={"will_not_meet": ["mx-01"]})
    plan = plan_event(ev, people, [], scores)
    assert verify_plan(plan, ev, people, []) == []
    m = plan.meetings[0]
    slot = ev.slots()[1]
    clash = m.model_copy(update={"slot": 1, "table": 1, "start": slot.start, "end": slot.end})
    same = m.model_copy(update={"slot": 1, "table": 1, "start": slot.start, "end": slot.end,
                                "a": "eu-00", "b": "mx-01"})
    broken = plan.model_copy(update={"meetings": [clash, same, m.model_copy(update={"table": 9})]})
    problems = "\n".join(verify_plan(broken, ev, people, []))
    assert "will not meet" in problems
    assert "table 9 does not exist" in problems
    assert "eu-00 has 2 meetings" in problems
    assert "table 1 holds 2 meetings" in problems
    assert "meet 2 times" in problems


def test_greedy_baseline_is_valid_and_not_better_than_the_solver():
    ev = event(slots_per_day=6, tables=3, min_meetings=2)
    people, scores = crowd(7, 8, seed=11)
    reqs = [MeetingRequest(requester="eu-00", target="mx-07"), MeetingRequest(requester="mx-02", target="eu-05")]
    greedy = greedy_plan(ev, people, reqs, scores)
    best = plan_event(ev, people, reqs, scores)
    assert verify_plan(greedy, ev, people, reqs) == []
    assert greedy.stats.objective <= best.stats.objective + 1e-9
    assert best.stats.objective <= best.stats.upper_bound + 1e-9


def test_sector_scorer_prefers_shared_sectors():
    people = [person("eu-a", "EU", ["solar"]), person("mx-a", "MX", ["solar"]),
              person("mx-b", "MX", ["wind"]), person("mx-c", "MX", ["software"])]
    scores = sector_scorer([people[0].organisation], [p.organisation for p in people[1:]])
    assert scores.shape == (1, 3)
    assert scores[0, 0] == pytest.approx(1.0)
    assert scores[0, 0] > scores[0, 1] > scores[0, 2] == 0.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_eu=st.integers(1, 5), n_mx=st.integers(1, 5), slots=st.integers(1, 4), tables=st.integers(1, 3),
    same_side=st.booleans(), seed=st.integers(0, 10_000),
)
def test_random_events_always_give_valid_plans(n_eu, n_mx, slots, tables, same_side, seed):
    rng = np.random.default_rng(seed)
    ev = event(slots_per_day=slots, breaks=[], tables=tables, max_meetings=int(rng.integers(1, 4)))
    people, _ = crowd(n_eu, n_mx)
    n = len(people)
    for k, p in enumerate(people):
        update = {}
        if rng.random() < 0.3:
            update["available"] = ["2026-10-12/1"]
        if rng.random() < 0.3:
            update["must_meet"] = [people[int(rng.integers(n))].id]
        if rng.random() < 0.3:
            update["will_not_meet"] = [people[int(rng.integers(n))].id]
        people[k] = p.model_copy(update=update)
    reqs = [MeetingRequest(requester=people[int(rng.integers(n))].id, target=people[int(rng.integers(n))].id,
                           status=str(rng.choice(["requested", "accepted", "declined"]))) for _ in range(3)]
    plan = plan_event(ev, people, reqs, rng.uniform(size=(n, n)), PlanOptions(same_side=same_side, time_limit=2))
    assert verify_plan(plan, ev, people, reqs) == []
    assert plan.stats.objective <= plan.stats.upper_bound + 1e-6


def test_odd_cycle_with_same_side_meetings_uses_the_integer_model():
    ev = event(slots_per_day=2, breaks=[], tables=2, max_meetings=1)
    people = [person(f"eu-{k}", "EU") for k in range(3)]
    plan = plan_event(ev, people, [], np.full((3, 3), 0.8), PlanOptions(same_side=True))
    assert plan.stats.meetings == 1
    assert plan.stats.upper_bound == pytest.approx(1.2, abs=1e-4)
    assert plan.stats.gap == pytest.approx(1 / 3, abs=1e-3) and plan.stats.status == "feasible"


def test_solver_places_what_the_heuristic_leaves(monkeypatch):
    from matcher.events import solve

    real = solve._heuristic_slots

    def half(prob, chosen, previous_slot):
        return real(prob, chosen[: len(chosen) // 2], previous_slot)

    monkeypatch.setattr(solve, "_heuristic_slots", half)
    ev = event(slots_per_day=6, tables=3, max_meetings=4)
    people, scores = crowd(6, 7, seed=4)
    plan = plan_event(ev, people, [], scores, PlanOptions(time_limit=5))
    assert plan.stats.unplaced_after_choice == 0
    assert plan.stats.meetings == ev.capacity
    assert verify_plan(plan, ev, people, []) == []


def test_cross_border_only_scorer_falls_back_to_sectors_for_same_side_pairs():
    from matcher.errors import InvalidProfile

    def ranker(eu, mx):
        if any(o.side.value != "EU" for o in eu) or any(o.side.value != "MX" for o in mx):
            raise InvalidProfile("wrong side", "side")
        return np.full((len(eu), len(mx)), 0.5)

    people = [person("eu-a", "EU", ["solar"]), person("eu-b", "EU", ["solar"]), person("mx-a", "MX", ["wind"])]
    plan = plan_event(event(tables=3), people, [], ranker, PlanOptions(same_side=True))
    scores = {frozenset(m.pair): m.score for m in plan.meetings}
    assert scores[frozenset(("eu-a", "eu-b"))] == pytest.approx(1.0)
    assert scores[frozenset(("eu-a", "mx-a"))] == pytest.approx(0.5)
