"""The planning problem in index form, and the constraint report found while building it.

:func:`build_problem` turns an event, its participants, requests, scores and a previous plan
into plain arrays: who can meet whom (candidate pairs: each participant's best-scored
counterparts, found block by block, see :mod:`matcher.events.candidates`), in which slots
(common availability), how much each meeting is worth, and how many meetings each participant
may have. Everything
that cannot be honoured (unknown names, impossible must-meets, over-full request lists) is
recorded as an :class:`Issue` by name, and the rest is planned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from matcher.errors import EventError
from matcher.events.model import (
    Event,
    Issue,
    MeetingRequest,
    Origin,
    Participant,
    Plan,
    PlanOptions,
    RequestStatus,
)
from matcher.events.candidates import Block, Edges, Scores, score_blocks, select, sparse_pairs, top_k
from matcher.text import normalise


@dataclass(frozen=True)
class Tiers:
    """Bonuses that make stronger reasons win over any three weaker meetings.

    A meeting can push out at most three others (one per participant, one for the slot's last
    table), so each tier is worth more than three meetings of all lower tiers together.
    """

    request: float
    minimum: float
    keep: float
    accepted: float
    must: float

    @classmethod
    def from_options(cls, options: PlanOptions) -> "Tiers":
        base = 1.0 + options.request_bonus + 2 * options.min_bonus
        keep = 3 * base + 1
        accepted = 3 * (base + keep) + 1
        must = 3 * (base + keep + accepted) + 1
        return cls(options.request_bonus, options.min_bonus, keep, accepted, must)


@dataclass
class Problem:
    """Participants sorted by id; pairs ``(i, j)`` with ``i < j`` index into them.

    Only candidate pairs are held: ``pairs[e]``, its pair ``score[e]``, planning ``weight[e]``,
    ``origin[e]`` and ``common[e]`` (the slots both can attend; equal tuples are shared).
    """

    event: Event
    options: PlanOptions
    participants: list[Participant]
    scores: Scores
    avail: list[frozenset[int]]
    cap: np.ndarray
    minimum: np.ndarray
    tiers: Tiers
    pairs: list[tuple[int, int]] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    weight: list[float] = field(default_factory=list)
    origin: list[Origin] = field(default_factory=list)
    common: list[tuple[int, ...]] = field(default_factory=list)
    kept_pairs: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    names: "_Names | None" = None
    _sets: list[frozenset[int]] | None = None

    def common_sets(self) -> list[frozenset[int]]:
        """``common`` as frozensets, built once (equal sets shared)."""
        if self._sets is None or len(self._sets) != len(self.common):
            made: dict[tuple[int, ...], frozenset[int]] = {}
            self._sets = [made.get(c) or made.setdefault(c, frozenset(c)) for c in self.common]
        return self._sets

    @property
    def n(self) -> int:
        return len(self.participants)

    def name(self, i: int) -> str:
        return self.participants[i].name

    def issue(self, kind: str, members: Sequence[str], message: str) -> None:
        self.issues.append(Issue(kind=kind, participants=list(members), message=message))


class _Names:
    """Resolve participant references: id, name, acronym or alias, case- and accent-blind."""

    def __init__(self, participants: list[Participant]):
        self._keys: dict[str, set[int]] = {}
        for i, p in enumerate(participants):
            for key in [p.id, *p.organisation.all_names()]:
                self._keys.setdefault(normalise(key), set()).add(i)
        for i, p in enumerate(participants):
            self._keys[normalise(p.id)] = {i}

    def get(self, ref: str) -> int | None:
        hits = self._keys.get(normalise(ref), set())
        return next(iter(hits)) if len(hits) == 1 else None

    def ambiguous(self, ref: str) -> bool:
        return len(self._keys.get(normalise(ref), set())) > 1


def _ordered(i: int, j: int) -> tuple[int, int]:
    return (i, j) if i < j else (j, i)


def build_problem(
    event: Event,
    participants: Sequence[Participant],
    requests: Sequence[MeetingRequest],
    scores: Scores,
    options: PlanOptions,
    previous_plan: Plan | None = None,
) -> Problem:
    """Index the planning problem and collect the constraint report.

    ``scores`` is a scorer, a dense ``(n, n)`` or ``(n_eu, n_mx)`` matrix over ``participants``
    in their given order, or a sparse matrix of that shape whose stored entries are the only
    pairs considered. Pairs are scored in blocks and each participant keeps its
    ``options.candidates`` best (see :mod:`matcher.events.candidates`).
    """
    seen: set[str] = set()
    for p in participants:
        if p.id in seen:
            raise EventError(f"participant id {p.id!r} appears twice")
        seen.add(p.id)
    order = sorted(range(len(participants)), key=lambda k: participants[k].id)
    people = [participants[k] for k in order]
    if sp.issparse(scores) or not callable(scores):
        scores = _reordered(scores, participants, order)
    n_slots = event.slot_count
    avail = [frozenset(p.slot_indices(event)) for p in people]
    cap = np.zeros(len(people), dtype=np.int64)
    minimum = np.zeros(len(people), dtype=np.int64)
    prob = Problem(event, options, people, scores, avail, cap, minimum, Tiers.from_options(options))
    for i, p in enumerate(people):
        most = p.max_meetings if p.max_meetings is not None else (event.max_meetings or n_slots)
        least = p.min_meetings if p.min_meetings is not None else event.min_meetings
        if p.max_meetings is not None and p.min_meetings is not None and p.min_meetings > p.max_meetings:
            raise EventError(f"participant {p.name!r}: min_meetings is larger than max_meetings")
        cap[i] = min(most, len(avail[i]))
        if not avail[i]:
            prob.issue("no_availability", [p.name], f"{p.name} is not available in any session")
        if least > cap[i]:
            prob.issue("minimum_unreachable", [p.name],
                       f"{p.name} can have at most {cap[i]} meetings, fewer than the minimum of {least}")
        minimum[i] = min(least, cap[i])
    _collect_pairs(prob, requests, previous_plan)
    return prob


def _collect_pairs(prob: Problem, requests: Sequence[MeetingRequest], previous_plan: Plan | None) -> None:
    people, options = prob.participants, prob.options
    names = prob.names = _Names(people)

    def resolve(ref: str, context: str) -> int | None:
        i = names.get(ref)
        if i is None:
            what = "matches several participants" if names.ambiguous(ref) else "is not a participant"
            prob.issue("unknown_participant", [ref], f"{context}: {ref!r} {what}")
        return i

    forbidden: set[tuple[int, int]] = set()
    for i, p in enumerate(people):
        for ref in p.will_not_meet:
            j = resolve(ref, f"{p.name}, will_not_meet")
            if j is not None and j != i:
                forbidden.add(_ordered(i, j))
    wanted: dict[tuple[int, int], Origin] = {}
    rank = {Origin.MUST_MEET: 0, Origin.ACCEPTED: 1, Origin.REQUESTED: 2, Origin.SUGGESTED: 3}

    def want(i: int, j: int, origin: Origin) -> None:
        key = _ordered(i, j)
        if key not in wanted or rank[origin] < rank[wanted[key]]:
            wanted[key] = origin

    for i, p in enumerate(people):
        for ref in p.must_meet:
            j = resolve(ref, f"{p.name}, must_meet")
            if j is not None and j != i:
                want(i, j, Origin.MUST_MEET)
    for r in requests:
        context = f"request {r.requester!r} -> {r.target!r}"
        i, j = resolve(r.requester, context), resolve(r.target, context)
        if i is None or j is None or i == j:
            continue
        if r.status is RequestStatus.DECLINED:
            forbidden.add(_ordered(i, j))
        else:
            want(i, j, Origin.ACCEPTED if r.status is RequestStatus.ACCEPTED else Origin.REQUESTED)
    for key in [k for k, o in wanted.items() if k in forbidden]:
        a, b = prob.name(key[0]), prob.name(key[1])
        prob.issue("conflict", [a, b], f"{a} and {b} are asked to meet ({wanted.pop(key).value}) "
                   "but one of them will not meet the other; they are not planned")
    excluded = _excluded(prob, names)
    kept = _previous(prob, previous_plan, forbidden)
    load = np.zeros(prob.n, dtype=np.int64)
    for (i, j), origin in sorted(wanted.items()):
        a, b = prob.name(i), prob.name(j)
        if people[i].side is people[j].side and not options.same_side:
            prob.issue("same_side", [a, b], f"{a} and {b} are on the same side and same-side meetings "
                       f"are off; the {origin.value.replace('_', '-')} meeting is not planned")
            del wanted[(i, j)]
        elif not (prob.avail[i] & prob.avail[j]):
            prob.issue(f"{origin.value}_impossible", [a, b], f"{a} and {b} have no common free slot; "
                       f"the {origin.value.replace('_', '-')} meeting cannot be planned")
            del wanted[(i, j)]
        elif origin in (Origin.MUST_MEET, Origin.ACCEPTED):
            load[i] += 1
            load[j] += 1
    for i in np.flatnonzero(load > prob.cap):
        prob.issue("over_capacity", [prob.name(i)], f"{prob.name(i)} has {load[i]} must-meet or accepted "
                   f"meetings but room for {prob.cap[i]}; only that many can be planned")
    _candidates(prob, wanted, forbidden, excluded, kept)


def _excluded(prob: Problem, names: _Names) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for a, b in prob.options.exclude_pairs:
        i, j = names.get(a), names.get(b)
        if i is not None and j is not None and i != j:
            out.add(_ordered(i, j))
    return out


def _previous(
    prob: Problem, previous: Plan | None, forbidden: set[tuple[int, int]]
) -> dict[tuple[int, int], tuple[int, int]]:
    if previous is None:
        return {}
    index = {p.id: i for i, p in enumerate(prob.participants)}
    same_clock = previous.event.slots() == prob.event.slots()
    for m in previous.meetings:
        i, j = index.get(m.a), index.get(m.b)
        if i is None or j is None:
            continue
        key = _ordered(i, j)
        if key in forbidden or (prob.participants[i].side is prob.participants[j].side and not prob.options.same_side):
            continue
        slot = m.slot if same_clock and m.slot in (prob.avail[i] & prob.avail[j]) else -1
        prob.kept_pairs[key] = (slot, m.table)
    return prob.kept_pairs


def _reordered(scores: Scores, participants: Sequence[Participant], order: list[int]) -> Scores:
    """A score matrix over the participants given, re-indexed to the id order of the problem."""
    n = len(participants)
    eu = [k for k, p in enumerate(participants) if p.side.value == "EU"]
    mx = [k for k, p in enumerate(participants) if p.side.value == "MX"]
    shape = scores.shape if sp.issparse(scores) else np.shape(scores)
    if shape == (n, n):
        perm = np.asarray(order, dtype=np.int64)
    elif shape == (len(eu), len(mx)):
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        new_eu = rank[np.asarray(eu, dtype=np.int64)]
        new_mx = rank[np.asarray(mx, dtype=np.int64)]
        row_perm, col_perm = np.argsort(new_eu, kind="stable"), np.argsort(new_mx, kind="stable")
        if sp.issparse(scores):
            return sp.csr_matrix(scores)[row_perm][:, col_perm]
        return np.asarray(scores, dtype=np.float64)[np.ix_(row_perm, col_perm)]
    else:
        raise EventError(f"scores: shape {shape} fits neither ({n}, {n}) nor ({len(eu)}, {len(mx)})")
    if sp.issparse(scores):
        return sp.csr_matrix(scores)[perm][:, perm]
    return np.asarray(scores, dtype=np.float64)[np.ix_(perm, perm)]


def _codes(pairs: set[tuple[int, int]] | list[tuple[int, int]], n: int) -> np.ndarray:
    return np.array(sorted(i * n + j for i, j in pairs), dtype=np.int64)


def _candidates(
    prob: Problem,
    wanted: dict[tuple[int, int], Origin],
    forbidden: set[tuple[int, int]],
    excluded: set[tuple[int, int]],
    kept: dict[tuple[int, int], tuple[int, int]],
) -> None:
    people, tiers, opts, n = prob.participants, prob.tiers, prob.options, prob.n
    is_eu = np.array([p.side.value == "EU" for p in people], dtype=bool)
    free = np.zeros((n, prob.event.slot_count), dtype=np.float32)
    for i, slots in enumerate(prob.avail):
        free[i, list(slots)] = 1.0
    blocked = _codes(forbidden | excluded, n)
    room = prob.cap > 0

    def allowed_edges(lo: np.ndarray, hi: np.ndarray, score: np.ndarray) -> np.ndarray:
        ok = (score > opts.min_score) & room[lo] & room[hi] & ~np.isin(lo * n + hi, blocked)
        if not opts.same_side:
            ok &= is_eu[lo] != is_eu[hi]
        bits = np.packbits(free > 0, axis=1)
        for start in range(0, len(lo), 65_536):
            part = slice(start, start + 65_536)
            ok[part] &= (bits[lo[part]] & bits[hi[part]]).any(axis=1)
        return ok

    def allowed(block: Block) -> np.ndarray:
        a, b = block.rows[:, None], block.cols[None, :]
        ok = (block.values > opts.min_score) & room[a] & room[b] & (a != b)
        if len(blocked):
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            ok &= ~np.isin(lo * n + hi, blocked)
        return ok & ((free[block.rows] @ free[block.cols].T) > 0)

    forced = sorted(set(wanted) | {key for key in kept if key in wanted or key not in excluded})
    forced = [key for key in forced if key not in forbidden]
    f_lo = np.array([i for i, _ in forced], dtype=np.int64)
    f_hi = np.array([j for _, j in forced], dtype=np.int64)
    k = opts.candidate_count(int(prob.cap.max()) if n else 0)
    k = None if k >= n else k
    if sp.issparse(prob.scores):
        stored = sparse_pairs([p.organisation for p in people], prob.scores, same_side=opts.same_side)
        ok = allowed_edges(stored.lo, stored.hi, stored.score)
        edges = top_k(Edges(stored.lo[ok], stored.hi[ok], stored.score[ok]), n, k)
        f_score = np.zeros(len(f_lo))
        if len(stored):
            where = np.minimum(np.searchsorted(stored.lo * n + stored.hi, f_lo * n + f_hi), len(stored) - 1)
            hit = (stored.lo[where] == f_lo) & (stored.hi[where] == f_hi)
            f_score[hit] = stored.score[where[hit]]
    else:
        blocks = score_blocks([p.organisation for p in people], prob.scores, same_side=opts.same_side)
        edges, f_score = select(blocks, n, k, allowed, (f_lo, f_hi))
    codes = np.concatenate([edges.lo * n + edges.hi, f_lo * n + f_hi])
    values = np.concatenate([edges.score, f_score])
    codes, first = np.unique(codes, return_index=True)
    values = values[first]
    bonus = {Origin.MUST_MEET: tiers.must, Origin.ACCEPTED: tiers.accepted, Origin.REQUESTED: tiers.request}
    mask = [sum(1 << s for s in slots) for slots in prob.avail]
    shared: dict[int, tuple[int, ...]] = {}
    for code, value in zip(codes.tolist(), values.tolist()):
        i, j = divmod(code, n)
        both = mask[i] & mask[j]
        if not both:
            continue
        common = shared.get(both)
        if common is None:
            common = shared[both] = tuple(sorted(prob.avail[i] & prob.avail[j]))
        origin = wanted.get((i, j), Origin.SUGGESTED)
        prob.pairs.append((i, j))
        prob.score.append(value)
        prob.weight.append(value + bonus.get(origin, 0.0) + (tiers.keep if (i, j) in kept else 0.0))
        prob.origin.append(origin)
        prob.common.append(common)
