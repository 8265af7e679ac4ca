"""The two solver stages: choose the meetings, then place them in slots.

Stage 1 chooses which pairs meet: a maximum-weight b-matching (each participant at most its
cap, the event at most slots × tables) with a bonus for each participant's meetings up to its
minimum. Its relaxation over *all* candidate pairs, which ignores the slots, is solved first
as a min-cost flow; its optimum is the plan's upper bound. For cross-border events the flow
optimum is integral and already the optimal choice. With same-side meetings it may be half-
integral; CP-SAT then solves the integer model over the pairs the relaxation uses plus each
participant's best candidates, started from a rounding.

Stage 2 places the chosen meetings in slots: one meeting per participant per slot, only in
slots both can attend, at most ``tables`` meetings per slot, previous slots kept when
re-planning. A repairing heuristic (slot shifts, Kempe-chain swaps, ejections) places them; if
some are left over, CP-SAT re-places growing neighbourhoods around them. Meetings that still
cannot be placed are dropped, and the free tables are then filled with the best remaining
pairs that fit.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.graph.python import min_cost_flow
from ortools.sat.python import cp_model

from matcher.events.model import Origin
from matcher.events.problem import Problem

SCALE = 1000
FLOW_SCALE = 1_000_000
CONFLICTS_PER_SECOND = 500


def _solver(seed: int, seconds: float, deadline: float | None = None) -> cp_model.CpSolver:
    """A single-worker CP-SAT solver with a fixed seed.

    It stops on a deterministic budget (work units and conflicts) sized to be reached within
    ``seconds`` on a slow machine, so runs repeat exactly; the wall clock (``seconds``, and the
    ``deadline`` on the ``time.perf_counter`` clock) is only a safety net, and a plan cut by it
    is flagged ``time_limited``.
    """
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = max(seconds / 8, 0.05)
    solver.parameters.max_number_of_conflicts = max(int(CONFLICTS_PER_SECOND * seconds), 100)
    wall = seconds if deadline is None else min(seconds, deadline - time.perf_counter())
    solver.parameters.max_time_in_seconds = max(wall, 0.05)
    return solver


def relaxation(prob: Problem) -> tuple[float, np.ndarray, float]:
    """Bound, solution and rounding tolerance of the stage-1 relaxation.

    The bound is at least the value of any plan; the tolerance covers the rounding of the arc
    costs to integers (a plan within it of the bound is optimal).

    Solved as a min-cost flow. Cross-border events are bipartite: participants on the EU side
    are sources, MX participants sinks, and the flow optimum is an optimal integral choice.
    With same-side meetings every participant gets a sending and a receiving copy and each pair
    two half-weight arcs (the bipartite double cover); its optimum is the fractional b-matching
    bound and its solution has values 0, 1/2 or 1 per pair.
    """
    m, n = len(prob.pairs), prob.n
    if m == 0:
        return 0.0, np.zeros(0), 0.0
    pairs = np.asarray(prob.pairs, dtype=np.int64)
    weight = np.asarray(prob.weight)
    sides = np.array([p.side.value for p in prob.participants])
    bipartite = bool(np.all(sides[pairs[:, 0]] != sides[pairs[:, 1]]))
    source, sink = 2 * n, 2 * n + 1
    left, right = np.arange(n), n + np.arange(n)
    if bipartite:
        tail = np.where(sides[pairs[:, 0]] == "EU", pairs[:, 0], pairs[:, 1])
        head = np.where(sides[pairs[:, 0]] == "EU", pairs[:, 1], pairs[:, 0])
        tails, heads, costs, copies = [tail], [n + head], [weight], 1
    else:
        tails = [pairs[:, 0], pairs[:, 1]]
        heads = [n + pairs[:, 1], n + pairs[:, 0]]
        costs, copies = [weight / 2, weight / 2], 2
    bonus = prob.tiers.minimum / copies
    low, high = prob.minimum, prob.cap - prob.minimum
    tails += [np.full(n, source), np.full(n, source), right, right, [source]]
    heads += [left, left, np.full(n, sink), np.full(n, sink), [sink]]
    costs += [np.full(n, bonus), np.zeros(n), np.full(n, bonus), np.zeros(n), [0.0]]
    flow_total = copies * prob.event.capacity
    caps = [np.ones(m, dtype=np.int64)] * copies + [low, high, low, high, [flow_total]]
    flow = min_cost_flow.SimpleMinCostFlow()
    unit = -np.rint(np.concatenate([np.asarray(c, dtype=float) for c in costs]) * FLOW_SCALE).astype(np.int64)
    arcs = flow.add_arcs_with_capacity_and_unit_cost(
        np.concatenate(tails).astype(np.int64), np.concatenate(heads).astype(np.int64),
        np.concatenate(caps).astype(np.int64), unit)
    flow.set_nodes_supplies(np.array([source, sink]), np.array([flow_total, -flow_total]))
    if flow.solve() != flow.OPTIMAL:  # pragma: no cover - the bypass arc keeps it feasible
        raise RuntimeError("the relaxation's flow problem could not be solved")
    used = flow.flows(arcs)
    x = used[:m].astype(float) if bipartite else (used[:m] + used[m:2 * m]) / 2.0
    slack = 0.5 / FLOW_SCALE * 3 * flow_total  # rounding of the arc costs, per unit of flow
    return float(-flow.optimal_cost() / FLOW_SCALE + slack), x, 2 * slack


def _round(prob: Problem, x: np.ndarray) -> set[int]:
    """An integral choice from a fractional one: whole pairs first, then halves, heaviest first."""
    deg = np.zeros(prob.n, dtype=np.int64)
    out: set[int] = set()
    for e in sorted(np.flatnonzero(x > 1e-6).tolist(), key=lambda e: (-x[e], -prob.weight[e], e)):
        i, j = prob.pairs[e]
        if deg[i] < prob.cap[i] and deg[j] < prob.cap[j] and len(out) < prob.event.capacity:
            out.add(e)
            deg[i] += 1
            deg[j] += 1
    return out


def choose(prob: Problem, x: np.ndarray, seconds: float, deadline: float | None = None) -> tuple[list[int], bool]:
    """Stage 1: indices of the pairs to meet.

    An integral relaxation solution is optimal as it stands. Otherwise CP-SAT solves the
    b-matching over the pairs the relaxation uses plus each participant's best candidates,
    started from a rounding of the relaxation.
    """
    if x.size == 0 or np.all(np.minimum(x, 1 - x) < 1e-6):
        return [int(e) for e in np.flatnonzero(x > 0.5)], False
    start = _round(prob, x)
    keep = set(np.flatnonzero(x > 1e-6).tolist()) | start
    per: dict[int, list[int]] = {}
    for e, (i, j) in enumerate(prob.pairs):
        per.setdefault(i, []).append(e)
        per.setdefault(j, []).append(e)
    for edges in per.values():
        keep.update(sorted(edges, key=lambda e: (-prob.weight[e], e))[: prob.options.candidates_per_participant])
    cand = sorted(keep)
    model = cp_model.CpModel()
    var = {e: model.new_bool_var(f"x{e}") for e in cand}
    inc: dict[int, list] = {}
    for e in cand:
        for k in prob.pairs[e]:
            inc.setdefault(k, []).append(var[e])
    bonus = []
    for i, row in sorted(inc.items()):
        model.add(cp_model.LinearExpr.sum(row) <= int(prob.cap[i]))
        if prob.minimum[i] > 0:
            y = model.new_int_var(0, int(prob.minimum[i]), f"y{i}")
            model.add(y <= cp_model.LinearExpr.sum(row))
            bonus.append(y)
    model.add(cp_model.LinearExpr.sum(list(var.values())) <= prob.event.capacity)
    terms = [var[e] for e in cand] + bonus
    coeffs = [int(round(prob.weight[e] * SCALE)) for e in cand] + [int(round(prob.tiers.minimum * SCALE))] * len(bonus)
    model.maximize(cp_model.LinearExpr.weighted_sum(terms, coeffs))
    for e in cand:
        model.add_hint(var[e], e in start)
    solver = _solver(prob.options.seed, seconds, deadline)
    status = solver.solve(model)
    cut = status != cp_model.OPTIMAL and solver.wall_time >= 0.95 * solver.parameters.max_time_in_seconds
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return sorted(start), cut
    return [e for e in cand if solver.boolean_value(var[e])], cut


class Board:
    """Placed meetings: who is busy in which slot and how many tables each slot uses."""

    def __init__(self, prob: Problem):
        self.prob = prob
        self.at: dict[tuple[int, int], int] = {}
        self.slot: dict[int, int] = {}
        self.members: list[set[int]] = [set() for _ in range(prob.event.slot_count)]
        self.tables = prob.event.tables
        self.common = prob.common_sets()

    def put(self, e: int, s: int) -> None:
        i, j = self.prob.pairs[e]
        self.at[(i, s)] = self.at[(j, s)] = e
        self.slot[e] = s
        self.members[s].add(e)

    def take(self, e: int) -> int:
        s = self.slot.pop(e)
        i, j = self.prob.pairs[e]
        del self.at[(i, s)], self.at[(j, s)]
        self.members[s].discard(e)
        return s

    def free(self, v: int, s: int) -> bool:
        return (v, s) not in self.at

    def fits(self, e: int, s: int) -> bool:
        i, j = self.prob.pairs[e]
        return (i, s) not in self.at and (j, s) not in self.at and len(self.members[s]) < self.tables

    def place(self, e: int, prefer: int | None = None, repair: bool = True, eject: bool = True) -> bool:
        """Put a meeting in a free slot, the preferred one first, else the emptiest; with
        ``repair``, move other meetings to make room when no slot is free."""
        direct = [s for s in self.prob.common[e] if self.fits(e, s)]
        if direct:
            self.put(e, prefer if prefer in direct else min(direct, key=lambda s: (len(self.members[s]), s)))
            return True
        return repair and (self._shift(e) or self._swap(e) or (eject and self._eject(e)))

    def _eject(self, e: int) -> bool:
        """Take out the one meeting that blocks a slot, place this one, then re-place that one."""
        i, j = self.prob.pairs[e]
        for a in self.prob.common[e]:
            blockers = {self.at[(k, a)] for k in (i, j) if (k, a) in self.at}
            if len(blockers) != 1:
                continue
            (f,) = blockers
            self.take(f)
            self.put(e, a)
            if self.place(f, repair=True, eject=False):
                return True
            self.take(e)
            self.put(f, a)
        return False

    def _shift(self, e: int) -> bool:
        """Free a table in a slot both can attend by moving one meeting to another slot."""
        i, j = self.prob.pairs[e]
        for a in self.prob.common[e]:
            if not (self.free(i, a) and self.free(j, a)):
                continue
            for f in sorted(self.members[a]):
                p, q = self.prob.pairs[f]
                for b in self.prob.common[f]:
                    if b != a and len(self.members[b]) < self.tables and self.free(p, b) and self.free(q, b):
                        self.take(f)
                        self.put(f, b)
                        self.put(e, a)
                        return True
        return False

    def _swap(self, e: int) -> bool:
        """Kempe-chain repair: swap slots ``a`` and ``b`` along the alternating path that blocks
        one participant, so that both become free in ``a``."""
        u, v = self.prob.pairs[e]
        for x, y in ((u, v), (v, u)):
            for a in self.prob.common[e]:
                if not self.free(x, a) or self.free(y, a):
                    continue
                for b in self.prob.common[e]:
                    if b == a or not self.free(y, b):
                        continue
                    path = self._path(y, a, b, x)
                    if path is None or any(not ({a, b} <= self.common[f]) for f in path):
                        continue
                    n_a = sum(1 for f in path if self.slot[f] == a)
                    n_b = len(path) - n_a
                    if len(self.members[a]) - n_a + n_b + 1 > self.tables or len(self.members[b]) - n_b + n_a > self.tables:
                        continue
                    moved = [(f, b if self.take(f) == a else a) for f in path]
                    for f, s in moved:
                        self.put(f, s)
                    self.put(e, a)
                    return True
        return False

    def _path(self, start: int, a: int, b: int, avoid: int) -> list[int] | None:
        path: list[int] = []
        cur, colour = start, a
        while (cur, colour) in self.at:
            f = self.at[(cur, colour)]
            path.append(f)
            i, j = self.prob.pairs[f]
            cur = j if i == cur else i
            if cur == avoid or len(path) > 2 * self.prob.n:
                return None
            colour = b if colour == a else a
        return path


def _heuristic_slots(prob: Problem, chosen: list[int], previous_slot: dict[int, int]) -> Board:
    """Place meetings one by one, strongest and most constrained first, repairing when stuck."""
    board = Board(prob)
    order = sorted(chosen, key=lambda e: (e not in previous_slot, prob.origin[e] is Origin.SUGGESTED,
                                          len(prob.common[e]), -prob.weight[e], e))
    for e in order:
        board.place(e, previous_slot.get(e))
    return board


def place(prob: Problem, chosen: list[int], seconds: float, previous_slot: dict[int, int],
          deadline: float | None = None) -> tuple[dict[int, int], bool]:
    """Stage 2: a slot for as many chosen meetings as possible, heaviest first.

    The repairing heuristic usually places everything. When meetings are left over (or kept
    meetings had to move), CP-SAT re-places a growing neighbourhood of them: the meetings of
    the participants involved, then their partners' meetings, then everything, started from
    the current placement each time. Returns the placement and whether a solver run was cut
    by the wall clock (the plan may then differ between runs).
    """
    if not chosen:
        return {}, False
    best = dict(_heuristic_slots(prob, chosen, previous_slot).slot)
    deadline = time.perf_counter() + seconds if deadline is None else deadline
    limited = False
    for hops, share in ((1, 0.25), (2, 0.35), (0, 0.4)):
        targets = [e for e in chosen if e not in best or (e in previous_slot and best[e] != previous_slot[e])]
        if not targets or deadline - time.perf_counter() < 0.05:
            limited |= bool(targets)
            break
        free = _neighbourhood(prob, chosen, best, targets, hops)
        found, cut = _cp_place(prob, best, free, share * seconds, previous_slot, deadline)
        limited |= cut
        if _placement_value(prob, found, previous_slot) > _placement_value(prob, best, previous_slot):
            best = found
    return best, limited


def _neighbourhood(prob: Problem, chosen: list[int], placed: dict[int, int], targets: list[int], hops: int) -> set[int]:
    """The target meetings plus the meetings of their participants, ``hops`` levels out (0: all)."""
    if hops == 0:
        return set(chosen)
    by_person: dict[int, list[int]] = {}
    for e in chosen:
        for k in prob.pairs[e]:
            by_person.setdefault(k, []).append(e)
    free = set(targets)
    for _ in range(hops):
        people = {k for e in free for k in prob.pairs[e]}
        free |= {f for k in people for f in by_person.get(k, [])}
    return free


def _cp_place(prob: Problem, placed: dict[int, int], free: set[int], seconds: float,
              previous_slot: dict[int, int], deadline: float | None = None) -> tuple[dict[int, int], bool]:
    """Re-place the ``free`` meetings with CP-SAT around the fixed rest of ``placed``."""
    fixed = {e: s for e, s in placed.items() if e not in free}
    busy = {(k, s) for e, s in fixed.items() for k in prob.pairs[e]}
    room = np.full(prob.event.slot_count, prob.event.tables, dtype=np.int64)
    for s in fixed.values():
        room[s] -= 1
    model = cp_model.CpModel()
    z: dict[tuple[int, int], cp_model.IntVar] = {}
    by_person_slot: dict[tuple[int, int], list] = {}
    by_slot: dict[int, list] = {}
    terms, coeffs = [], []
    keep_bonus = int(round(prob.tiers.keep * SCALE / 4))
    for e in sorted(free):
        i, j = prob.pairs[e]
        row = []
        for s in prob.common[e]:
            if (i, s) in busy or (j, s) in busy or room[s] <= 0:
                continue
            v = model.new_bool_var(f"z{e}_{s}")
            z[(e, s)] = v
            row.append(v)
            by_person_slot.setdefault((i, s), []).append(v)
            by_person_slot.setdefault((j, s), []).append(v)
            by_slot.setdefault(s, []).append(v)
            terms.append(v)
            coeffs.append(int(round(prob.weight[e] * SCALE)) + (keep_bonus if previous_slot.get(e) == s else 0))
        if len(row) > 1:
            model.add_at_most_one(row)
    for group in by_person_slot.values():
        if len(group) > 1:
            model.add_at_most_one(group)
    for s, group in by_slot.items():
        if len(group) > room[s]:
            model.add(cp_model.LinearExpr.sum(group) <= int(room[s]))
    model.maximize(cp_model.LinearExpr.weighted_sum(terms, coeffs))
    for (e, s), v in z.items():
        model.add_hint(v, placed.get(e) == s)
    solver = _solver(prob.options.seed, seconds, deadline)
    status = solver.solve(model)
    cut = status != cp_model.OPTIMAL and solver.wall_time >= 0.95 * solver.parameters.max_time_in_seconds
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return dict(placed), cut
    out = dict(fixed)
    out.update({e: s for (e, s), v in z.items() if solver.boolean_value(v)})
    return out, cut


def _placement_value(prob: Problem, placed: dict[int, int], previous_slot: dict[int, int]) -> float:
    return sum(prob.weight[e] + (prob.tiers.keep / 4 if previous_slot.get(e) == s else 0.0) for e, s in placed.items())


def fill(prob: Problem, placed: dict[int, int]) -> dict[int, int]:
    """Add further candidate meetings, best first, where both participants and a table are free."""
    board = Board(prob)
    deg = np.zeros(prob.n, dtype=np.int64)
    for e, s in placed.items():
        board.put(e, s)
        for k in prob.pairs[e]:
            deg[k] += 1
    if len(placed) >= prob.event.capacity:
        return dict(board.slot)
    below = lambda i: deg[i] < prob.minimum[i]  # noqa: E731
    spare = deg < prob.cap
    order = sorted(
        (e for e, (i, j) in enumerate(prob.pairs) if spare[i] and spare[j] and e not in placed),
        key=lambda e: (-(prob.weight[e] + prob.tiers.minimum * (below(prob.pairs[e][0]) + below(prob.pairs[e][1]))), e),
    )
    for e in order:
        i, j = prob.pairs[e]
        if deg[i] < prob.cap[i] and deg[j] < prob.cap[j] and board.place(e, repair=False):
            deg[i] += 1
            deg[j] += 1
    return dict(board.slot)


def objective(prob: Problem, placed: dict[int, int]) -> float:
    """Value of a placement under the stage-1 objective (comparable with the upper bound)."""
    deg = np.zeros(prob.n, dtype=np.int64)
    for e in placed:
        i, j = prob.pairs[e]
        deg[i] += 1
        deg[j] += 1
    return float(sum(prob.weight[e] for e in placed) + prob.tiers.minimum * np.minimum(deg, prob.minimum).sum())
