"""An independent check of a plan against the event's rules.

:func:`verify_plan` re-derives every rule from the event, the participants and the requests
(it shares no code with the planner beyond the data model) and lists each violation in words.
An empty list means the plan is valid.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from matcher.events.model import Event, MeetingRequest, Origin, Participant, Plan, RequestStatus
from matcher.text import normalise


def _resolver(participants: Sequence[Participant]) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    for p in participants:
        for name in [p.id, *p.organisation.all_names()]:
            keys.setdefault(normalise(name), set()).add(p.id)
    for p in participants:
        keys[normalise(p.id)] = {p.id}
    return keys


def verify_plan(
    plan: Plan,
    event: Event,
    participants: Sequence[Participant],
    requests: Sequence[MeetingRequest] = (),
) -> list[str]:
    """Every rule the plan breaks, one sentence each (empty when the plan is valid)."""
    problems: list[str] = []
    people = {p.id: p for p in participants}
    slots = event.slots()
    keys = _resolver(participants)

    def one(ref: str) -> str | None:
        hits = keys.get(normalise(ref), set())
        return next(iter(hits)) if len(hits) == 1 else None

    free: dict[str, set[int]] = {}
    for p in participants:
        pool = range(len(slots)) if p.available is None else [
            s.index for s in slots if s.session in p.available or s.day.isoformat() in p.available]
        blocked = {s.index for s in slots if s.session in p.unavailable or s.day.isoformat() in p.unavailable}
        free[p.id] = set(pool) - blocked
    banned: set[frozenset[str]] = set()
    for p in participants:
        for ref in p.will_not_meet:
            other = one(ref)
            if other:
                banned.add(frozenset((p.id, other)))
    requested: set[frozenset[str]] = set()
    for r in requests:
        a, b = one(r.requester), one(r.target)
        if a and b:
            if r.status is RequestStatus.DECLINED:
                banned.add(frozenset((a, b)))
            else:
                requested.add(frozenset((a, b)))
    excluded = {frozenset(pair) for pair in plan.options.exclude_pairs}

    busy: Counter[tuple[str, int]] = Counter()
    tables: Counter[tuple[int, int]] = Counter()
    count: Counter[str] = Counter()
    pairs: Counter[frozenset[str]] = Counter()
    for m in plan.meetings:
        label = f"meeting {m.a} / {m.b}"
        if m.a == m.b:
            problems.append(f"{label}: a participant meets itself")
        missing = [x for x in (m.a, m.b) if x not in people]
        if missing:
            problems.append(f"{label}: not a participant: {', '.join(missing)}")
            continue
        if not 0 <= m.slot < len(slots):
            problems.append(f"{label}: slot {m.slot} does not exist")
            continue
        if not 1 <= m.table <= event.tables:
            problems.append(f"{label}: table {m.table} does not exist")
        if (m.start, m.end) != (slots[m.slot].start, slots[m.slot].end):
            problems.append(f"{label}: times do not match slot {m.slot}")
        for x in (m.a, m.b):
            if m.slot not in free[x]:
                problems.append(f"{label}: {x} is not available at {slots[m.slot].label}")
            busy[(x, m.slot)] += 1
            count[x] += 1
        tables[(m.slot, m.table)] += 1
        pair = frozenset((m.a, m.b))
        pairs[pair] += 1
        if pair in banned:
            problems.append(f"{label}: one of them will not meet the other, or declined")
        if people[m.a].side is people[m.b].side and not plan.options.same_side:
            problems.append(f"{label}: same-side meeting while same-side meetings are off")
        if pair in excluded and m.origin is Origin.SUGGESTED and pair not in requested:
            problems.append(f"{label}: suggested although the pair already cooperates")
    problems += [f"{x} has {k} meetings at {slots[s].label}" for (x, s), k in sorted(busy.items()) if k > 1]
    problems += [f"table {t} holds {k} meetings at {slots[s].label}" for (s, t), k in sorted(tables.items()) if k > 1]
    problems += [f"{' / '.join(sorted(p))} meet {k} times"
                 for p, k in sorted(pairs.items(), key=lambda kv: sorted(kv[0])) if k > 1]
    per_slot = Counter(m.slot for m in plan.meetings)
    problems += [f"{k} meetings at {slots[s].label} for {event.tables} tables" for s, k in sorted(per_slot.items())
                 if k > event.tables]
    for pid, k in sorted(count.items()):
        p = people[pid]
        limit = p.max_meetings if p.max_meetings is not None else event.max_meetings
        if limit is not None and k > limit:
            problems.append(f"{pid} has {k} meetings, more than its maximum of {limit}")
    return problems
