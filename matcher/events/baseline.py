"""A first-come-first-served baseline planner, for comparison with :func:`plan_event`.

It does what a hand-run matchmaking desk does: take the must-meets, then the requests in the
order they were made (accepted ones first), then every other pair from the best score down,
and put each meeting in the earliest slot where both are free and a table is left.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from matcher.events.model import Event, MeetingRequest, Origin, Participant, Plan, PlanOptions, RequestStatus
from matcher.events.planner import assemble
from matcher.events.problem import build_problem
from matcher.events.candidates import Scores
from matcher.events.solve import relaxation


def greedy_plan(
    event: Event,
    participants: Sequence[Participant],
    requests: Sequence[MeetingRequest],
    scores: Scores,
    options: PlanOptions | None = None,
) -> Plan:
    """Plan greedily in request order (see the module doc); same rules as :func:`plan_event`."""
    started = time.perf_counter()
    options = options or PlanOptions()
    prob = build_problem(event, participants, requests, scores, options)
    bound, _, tolerance = relaxation(prob)
    edge = {pair: e for e, pair in enumerate(prob.pairs)}
    names = prob.names
    order: list[int] = [e for e, o in enumerate(prob.origin) if o is Origin.MUST_MEET]
    for status in (RequestStatus.ACCEPTED, RequestStatus.REQUESTED):
        for r in requests:
            if r.status is status and names is not None:
                i, j = names.get(r.requester), names.get(r.target)
                if i is not None and j is not None and i != j:
                    e = edge.get((min(i, j), max(i, j)))
                    if e is not None:
                        order.append(e)
    order += np.lexsort((np.arange(len(prob.score)), -np.asarray(prob.score, dtype=np.float64))).tolist()
    deg = np.zeros(prob.n, dtype=np.int64)
    busy: set[tuple[int, int]] = set()
    used = np.zeros(event.slot_count, dtype=np.int64)
    placed: dict[int, int] = {}
    for e in order:
        i, j = prob.pairs[e]
        if e in placed or deg[i] >= prob.cap[i] or deg[j] >= prob.cap[j]:
            continue
        for s in prob.common[e]:
            if used[s] < event.tables and (i, s) not in busy and (j, s) not in busy:
                placed[e] = s
                busy.update({(i, s), (j, s)})
                used[s] += 1
                deg[i] += 1
                deg[j] += 1
                break
    return assemble(prob, placed, bound, 0, None, started, tolerance=tolerance)
