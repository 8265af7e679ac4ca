"""The planning problem in index form, and the constraint report found while building it.

:func:`build_problem` turns an event, its participants, requests, scores and a previous plan
into plain arrays: who can meet whom (candidate pairs), in which slots (common availability),
how much each meeting is worth, and how many meetings each participant may have. Everything
that cannot be honoured (unknown names, impossible must-meets, over-full request lists) is
recorded as an :class:`Issue` by name, and the rest is planned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

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
from matcher.events.scoring import PairScorer, score_matrix
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
    """Participants sorted by id; pairs ``(i, j)`` with ``i < j`` index into them."""

    event: Event
    options: PlanOptions
    participants: list[Participant]
    scores: np.ndarray
    avail: list[frozenset[int]]
    cap: np.ndarray
    minimum: np.ndarray
    tiers: Tiers
    pairs: list[tuple[int, int]] = field(default_factory=list)
    weight: list[float] = field(default_factory=list)
    origin: list[Origin] = field(default_factory=list)
    common: list[tuple[int, ...]] = field(default_factory=list)
    kept_pairs: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    names: "_Names | None" = None

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
    scores: np.ndarray | PairScorer,
    options: PlanOptions,
    previous_plan: Plan | None = None,
) -> Problem:
    """Index the planning problem and collect the constraint report."""
    seen: set[str] = set()
    for p in participants:
        if p.id in seen:
            raise EventError(f"participant id {p.id!r} appears twice")
        seen.add(p.id)
    order = sorted(range(len(participants)), key=lambda k: participants[k].id)
    people = [participants[k] for k in order]
    full = score_matrix([p.organisation for p in participants], scores, same_side=options.same_side)
    full = full[np.ix_(order, order)]
    n_slots = event.slot_count
    avail = [frozenset(p.slot_indices(event)) for p in people]
    cap = np.zeros(len(people), dtype=np.int64)
    minimum = np.zeros(len(people), dtype=np.int64)
    prob = Problem(event, options, people, full, avail, cap, minimum, Tiers.from_options(options))
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


def _candidates(
    prob: Problem,
    wanted: dict[tuple[int, int], Origin],
    forbidden: set[tuple[int, int]],
    excluded: set[tuple[int, int]],
    kept: dict[tuple[int, int], tuple[int, int]],
) -> None:
    people, tiers, opts = prob.participants, prob.tiers, prob.options
    sides = np.array([p.side.value for p in people])
    allowed = np.triu(np.ones((prob.n, prob.n), dtype=bool), k=1)
    if not opts.same_side:
        allowed &= sides[:, None] != sides[None, :]
    allowed &= prob.scores > opts.min_score
    allowed &= (prob.cap[:, None] > 0) & (prob.cap[None, :] > 0)
    for i, j in forbidden | excluded:
        allowed[i, j] = False
    for key in wanted:
        allowed[key] = key not in forbidden
    for key in kept:
        allowed[key] = key not in forbidden and (key in wanted or key not in excluded)
    bonus = {Origin.MUST_MEET: tiers.must, Origin.ACCEPTED: tiers.accepted, Origin.REQUESTED: tiers.request}
    for i, j in zip(*np.nonzero(allowed)):
        i, j = int(i), int(j)
        common = tuple(sorted(prob.avail[i] & prob.avail[j]))
        if not common:
            continue
        origin = wanted.get((i, j), Origin.SUGGESTED)
        w = float(prob.scores[i, j]) + bonus.get(origin, 0.0) + (tiers.keep if (i, j) in kept else 0.0)
        prob.pairs.append((i, j))
        prob.weight.append(w)
        prob.origin.append(origin)
        prob.common.append(common)
