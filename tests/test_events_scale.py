"""The sparse planning path: candidate selection, block scoring, sparse inputs, and the fast writers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import scipy.sparse as sp
from icalendar import Calendar
from icalendar import Event as VEvent
from icalendar.prop import vText
from scipy.optimize import linprog

from matcher.events import (
    MeetingRequest,
    PlanOptions,
    greedy_plan,
    plan_event,
    sector_scorer,
    synthetic_organisations,
    verify_plan,
    write_outputs,
)
from matcher.events import outputs as outputs_module
from matcher.events.candidates import Edges, candidate_matrix, score_blocks, select, top_k
from matcher.events.model import Participant
from matcher.taxonomy import load_taxonomy
from tests.events_fixtures import DAY1, DAY2, crowd, event, person


def _lp_bound(people, scores: np.ndarray, ev, cap: int) -> float:
    """The b-matching relaxation over every EU–MX pair, solved independently by linprog."""
    eu = [k for k, p in enumerate(people) if p.side.value == "EU"]
    mx = [k for k, p in enumerate(people) if p.side.value == "MX"]
    pairs = [(a, b) for a in range(len(eu)) for b in range(len(mx)) if scores[a, b] > 0]
    rows = np.zeros((len(eu) + len(mx) + 1, len(pairs)))
    for e, (a, b) in enumerate(pairs):
        rows[a, e] = rows[len(eu) + b, e] = rows[-1, e] = 1
    limits = [min(cap, ev.slot_count)] * (len(eu) + len(mx)) + [ev.capacity]
    result = linprog(-np.array([scores[a, b] for a, b in pairs]), A_ub=rows, b_ub=limits, bounds=(0, 1))
    return -result.fun


def test_every_pair_as_candidates_reaches_the_independent_lp_bound():
    ev = event(days=[DAY1, DAY2], slots_per_day=4, tables=6, max_meetings=3)
    people, scores = crowd(9, 11, seed=5)
    options = PlanOptions(min_bonus=0, request_bonus=0, candidates=len(people))
    plan = plan_event(ev, people, [], scores, options)
    lp = _lp_bound(people, scores, ev, 3)
    assert plan.stats.upper_bound == pytest.approx(lp, abs=1e-3)
    assert plan.stats.candidate_pairs == scores.size
    assert plan.stats.objective == pytest.approx(lp, abs=1e-3)
    assert verify_plan(plan, ev, people, []) == []


def test_fewer_candidates_lower_the_bound_monotonically_and_plans_stay_valid():
    ev = event(days=[DAY1, DAY2], slots_per_day=4, tables=6, max_meetings=3)
    people, scores = crowd(9, 11, seed=5)
    lp = _lp_bound(people, scores, ev, 3)
    bounds, pairs = [], []
    for k in (1, 2, 3, 5, 8, 20):
        plan = plan_event(ev, people, [], scores, PlanOptions(min_bonus=0, request_bonus=0, candidates=k))
        assert verify_plan(plan, ev, people, []) == []
        assert plan.stats.objective <= plan.stats.upper_bound + 1e-6
        bounds.append(plan.stats.upper_bound)
        pairs.append(plan.stats.candidate_pairs)
    assert pairs == sorted(pairs) and pairs[0] < pairs[-1] == scores.size
    assert bounds == sorted(bounds) and bounds[-1] == pytest.approx(lp, abs=1e-3)
    assert bounds[0] < bounds[-1]


def test_sparse_plan_equals_dense_plan_when_every_pair_is_a_candidate():
    ev = event(days=[DAY1, DAY2], slots_per_day=4, tables=5, max_meetings=3, min_meetings=1)
    people, scores = crowd(8, 10, seed=9)
    reqs = [MeetingRequest(requester="eu-01", target="mx-07", status="accepted")]
    dense = plan_event(ev, people, reqs, scores)
    as_sparse = plan_event(ev, people, reqs, sp.csr_matrix(scores))
    key = lambda plan: [(m.a, m.b, m.slot, m.table) for m in plan.meetings]  # noqa: E731
    assert key(as_sparse) == key(dense)
    assert as_sparse.stats.objective == dense.stats.objective


def test_pairs_missing_from_a_sparse_matrix_are_never_suggested():
    ev = event(days=[DAY1, DAY2], slots_per_day=4, tables=5, max_meetings=3)
    people, scores = crowd(6, 6, seed=2)
    kept = np.where(scores > 0.5, scores, 0.0)
    plan = plan_event(ev, people, [], sp.coo_matrix(kept))
    stored = {(f"eu-{a:02d}", f"mx-{b:02d}") for a, b in zip(*np.nonzero(kept))}
    assert plan.meetings and all(m.pair in stored for m in plan.meetings)
    assert plan.stats.candidate_pairs == len(stored)
    assert verify_plan(plan, ev, people, []) == []


def test_must_meets_and_accepted_requests_are_planned_outside_the_candidates():
    ev = event(days=[DAY1, DAY2], slots_per_day=4, tables=6, max_meetings=3)
    people, scores = crowd(8, 8, seed=3)
    scores[2, 5] = scores[4, 1] = 0.001
    people[2] = people[2].model_copy(update={"must_meet": ["mx-05"]})
    reqs = [MeetingRequest(requester="mx-01", target="eu-04", status="accepted")]
    plan = plan_event(ev, people, reqs, scores, PlanOptions(candidates=1))
    pairs = {m.pair: m for m in plan.meetings}
    assert pairs[("eu-02", "mx-05")].origin.value == "must_meet"
    assert pairs[("eu-02", "mx-05")].score == pytest.approx(0.001)
    assert pairs[("eu-04", "mx-01")].origin.value == "accepted"
    assert verify_plan(plan, ev, people, reqs) == []


def test_greedy_plans_from_the_same_candidates():
    ev = event(days=[DAY1, DAY2], slots_per_day=4, tables=6, max_meetings=3)
    people, scores = crowd(10, 10, seed=8)
    options = PlanOptions(candidates=2)
    greedy = greedy_plan(ev, people, [], scores, options)
    best = plan_event(ev, people, [], scores, options)
    assert greedy.stats.candidate_pairs == best.stats.candidate_pairs < scores.size
    assert verify_plan(greedy, ev, people, []) == []
    assert greedy.stats.objective <= best.stats.objective + 1e-6


def test_top_k_keeps_each_participants_best_pairs_and_nothing_else():
    rng = np.random.default_rng(0)
    n, m = 30, 200
    codes = np.unique(rng.integers(0, n * n, size=m))
    lo, hi = codes // n, codes % n
    keep = lo < hi
    lo, hi = lo[keep], hi[keep]
    score = np.round(rng.uniform(size=len(lo)), 2)
    edges = top_k(Edges(lo, hi, score), n, 3)
    chosen = set(zip(edges.lo.tolist(), edges.hi.tolist()))
    expected = set()
    for p in range(n):
        mine = [(-score[e], int(hi[e] if lo[e] == p else lo[e]), e) for e in range(len(lo)) if p in (lo[e], hi[e])]
        expected |= {(int(lo[e]), int(hi[e])) for _, _, e in sorted(mine)[:3]}
    assert chosen == expected


def test_candidates_do_not_depend_on_the_block_size():
    orgs = synthetic_organisations(23, 31, seed=4)
    whole = candidate_matrix(orgs, sector_scorer, 4)
    pieces = candidate_matrix(orgs, sector_scorer, 4, block_pairs=50)
    assert (whole != pieces).nnz == 0 and (whole != whole.T).nnz == 0
    dense = sector_scorer(orgs[:23], orgs[23:])
    expected = set()
    for a in range(23):
        expected |= {(a, 23 + b) for b in sorted(np.flatnonzero(dense[a] > 0), key=lambda b: (-dense[a, b], b))[:4]}
    for b in range(31):
        expected |= {(a, 23 + b) for a in sorted(np.flatnonzero(dense[:, b] > 0), key=lambda a: (-dense[a, b], a))[:4]}
    got = {(int(a), int(b)) for a, b in zip(*sp.triu(whole).nonzero())}
    assert got == expected


def test_blocks_cover_every_pair_once_with_the_score_matrix_values():
    people, scores = crowd(5, 7, seed=1)
    orgs = [p.organisation for p in people]
    seen = np.zeros((5, 7))
    for block in score_blocks(orgs, scores, block_pairs=8):
        assert block.values.size <= 8 or len(block.rows) == 1
        seen[np.ix_(block.rows, block.cols - 5)] += 1
        assert np.allclose(block.values, scores[np.ix_(block.rows, block.cols - 5)])
    assert np.all(seen == 1)


def test_select_reads_forced_pair_scores_from_the_blocks():
    people, scores = crowd(4, 4, seed=6)
    orgs = [p.organisation for p in people]
    forced = (np.array([0, 3]), np.array([5, 7]))
    edges, values = select(score_blocks(orgs, scores, block_pairs=4), 8, 1,
                           lambda b: b.values > 0.5, forced)
    assert values.tolist() == [scores[0, 1], scores[3, 3]]
    assert all(s > 0.5 for s in edges.score)


def _sector_reference(a, b) -> float:
    tax = load_taxonomy()

    def jac(x: set, y: set) -> float:
        return len(x & y) / len(x | y) if x | y else 0.0

    wide = lambda o: tax.expand([s for s in o.sectors if s in tax])  # noqa: E731
    return 0.7 * jac(set(a.sectors), set(b.sectors)) + 0.3 * jac(wide(a), wide(b))


def test_vectorised_sector_scorer_matches_the_set_formula():
    orgs = synthetic_organisations(12, 15, seed=7)
    orgs.append(orgs[0].model_copy(update={"id": "no-sectors", "sectors": []}))
    eu, mx = orgs[:12] + orgs[-1:], orgs[12:-1]
    got = sector_scorer(eu, mx)
    want = np.array([[_sector_reference(a, b) for b in mx] for a in eu])
    assert np.array_equal(got, want)
    assert sector_scorer([], mx).shape == (0, len(mx))


def _icalendar_reference(plan, pid: str, now: dt.datetime) -> bytes:
    """A participant's calendar built entirely with icalendar."""
    people = {p.id: p for p in plan.participants}
    me, zone = people[pid], plan.event.zone
    cal = Calendar()
    cal.add("prodid", "-//c2c-matcher//B2B event planner//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", vText(f"{plan.event.name}: {me.name}"))
    for m in sorted(plan.meetings_of(pid), key=lambda m: m.slot):
        other = people[m.b if m.a == pid else m.a]
        ev = VEvent()
        ev.add("uid", outputs_module.meeting_uid(plan, m))
        ev.add("dtstamp", now)
        ev.add("dtstart", m.start.astimezone(zone))
        ev.add("dtend", m.end.astimezone(zone))
        ev.add("summary", f"Meeting with {other.name}")
        ev.add("location", f"Table {m.table}" + (f", {plan.event.venue}" if plan.event.venue else ""))
        ev.add("description", f"{plan.event.name}: {me.name} meets {other.name} ({other.country}, "
                              f"{other.type.replace('_', ' ')}) at table {m.table}.")
        cal.add_component(ev)
    cal.add_missing_timezones()
    return cal.to_ical()


@pytest.mark.parametrize("zone", ["America/Mexico_City", "Europe/Madrid", "UTC"])
def test_calendar_writer_gives_the_bytes_icalendar_gives(tmp_path, zone):
    ev = event(name="Feria; B2B, 2026 \\ México", days=[DAY1, DAY2], tables=3, timezone=zone,
               venue="Centro de Convenciones, Salón Ñandú; planta 2 " + "x" * 60)
    people = [
        person("eu-a", "EU", ["solar"], name="Énergie Solaire, Société; " + "très longue " * 8),
        person("eu-b", "EU", ["water"], name="Back\\slash\nNew line"),
        person("mx-a", "MX", ["solar"], name="Energía Sol, S.A. de C.V."),
        person("mx-b", "MX", ["water"], name="Agua" + "ñ" * 80),
        person("mx-c", "MX", ["wind"], name="Nobody Meets Me"),
    ]
    plan = plan_event(ev, people, [], sector_scorer)
    now = dt.datetime(2026, 9, 1, 8, 30, tzinfo=dt.timezone.utc)
    out = write_outputs(plan, tmp_path / "out", now=now)
    for p in people:
        written = (out / "agendas" / f"{p.id}.ics").read_bytes()
        assert written == _icalendar_reference(plan, p.id, now)
        assert all(len(line) <= 75 for line in written.split(b"\r\n"))
    assert outputs_module.ics_bytes(plan, "eu-a", now) == _icalendar_reference(plan, "eu-a", now)


def test_the_agenda_template_is_compiled_once_per_process(tmp_path):
    ev = event(days=[DAY1, DAY2], tables=4)
    people, scores = crowd(5, 5, seed=1)
    plan = plan_event(ev, people, [], scores)
    outputs_module._template.cache_clear()
    write_outputs(plan, tmp_path / "out")
    write_outputs(plan, tmp_path / "out")
    info = outputs_module._template.cache_info()
    assert info.misses == 1 and info.hits == 2 * len(people) - 1


def test_mid_size_sparse_event_with_wishes_is_valid():
    ev = event(days=[DAY1, DAY2], slots_per_day=6, tables=40, max_meetings=6, min_meetings=2)
    orgs = synthetic_organisations(120, 130, seed=3)
    people = [Participant(organisation=o) for o in orgs]
    rng = np.random.default_rng(1)
    for k in rng.choice(len(people), 40, replace=False):
        people[k] = people[k].model_copy(update={"available": ["2026-10-12"]})
    reqs = [MeetingRequest(requester=orgs[int(a)].id, target=orgs[120 + int(b)].id, status="accepted")
            for a, b in zip(rng.integers(0, 120, 30), rng.integers(0, 130, 30))]
    plan = plan_event(ev, people, reqs, sector_scorer, PlanOptions(candidates=6))
    assert verify_plan(plan, ev, people, reqs) == []
    assert plan.stats.candidate_pairs < 120 * 130 / 4
    assert plan.stats.gap < 0.01


def test_sparse_pairs_without_a_common_slot_are_dropped():
    ev = event(days=[DAY1, DAY2], slots_per_day=4, tables=4, max_meetings=3)
    people, scores = crowd(3, 3, seed=4)
    people[0] = people[0].model_copy(update={"available": ["2026-10-12"]})
    people[3] = people[3].model_copy(update={"available": ["2026-10-13"]})
    plan = plan_event(ev, people, [], sp.csr_matrix(np.full((3, 3), 0.9)))
    assert plan.stats.candidate_pairs == 8
    assert ("eu-00", "mx-00") not in {m.pair for m in plan.meetings}
    assert verify_plan(plan, ev, people, []) == []


@pytest.mark.parametrize("kind", ["dense", "sparse", "square"])
def test_matrices_follow_the_given_participant_order(kind):
    ev = event(days=[DAY1, DAY2], slots_per_day=4, tables=6, max_meetings=3)
    people, scores = crowd(5, 6, seed=12)
    order = np.random.default_rng(3).permutation(len(people))
    shuffled = [people[k] for k in order]
    eu = [p.id for p in shuffled if p.side.value == "EU"]
    mx = [p.id for p in shuffled if p.side.value == "MX"]
    given = np.array([[scores[int(a[3:]), int(b[3:])] for b in mx] for a in eu])
    if kind == "square":
        index = {p.id: k for k, p in enumerate(shuffled)}
        matrix = np.zeros((len(people), len(people)))
        for a in eu:
            for b in mx:
                matrix[index[a], index[b]] = matrix[index[b], index[a]] = given[eu.index(a), mx.index(b)]
    else:
        matrix = given if kind == "dense" else sp.csr_matrix(given)
    plan = plan_event(ev, shuffled, [], matrix, PlanOptions(candidates=3))
    assert plan.meetings
    for m in plan.meetings:
        assert m.score == pytest.approx(given[eu.index(m.a), mx.index(m.b)], abs=1e-6)
    assert verify_plan(plan, ev, shuffled, []) == []
