"""B2B event planning: participants and pair scores in, a meeting schedule and its files out.

The public API::

    event = make_event(days=[...], slots_per_day=8, tables=30, ...)
    participants = load_participants("participants.csv", event)     # or build Participant objects
    plan = plan_event(event, participants, requests, scorer_or_matrix, PlanOptions(seed=0))
    verify_plan(plan, event, participants, requests)                 # [] when valid
    write_outputs(plan, "out/")                                       # summary, schedule, agendas

``scorer_or_matrix`` is a scorer (``Suggester.score_pairs``, :func:`sector_scorer`), a dense
score matrix, or a sparse one (:func:`candidate_matrix`). Pairs are scored in blocks and each
participant's best ``PlanOptions.candidates`` counterparts are planned from, so memory grows with
the participants, not with the pairs.

``plan_event`` is a pure function of its inputs; re-plan after late changes by passing the
earlier plan as ``previous_plan``.
"""

from matcher.events.baseline import greedy_plan
from matcher.events.candidates import candidate_matrix
from matcher.events.model import (
    Break,
    Event,
    Issue,
    Meeting,
    MeetingRequest,
    Origin,
    Participant,
    Plan,
    PlanOptions,
    PlanParticipant,
    PlanStats,
    RequestStatus,
    Session,
    Slot,
    make_event,
)
from matcher.events.outputs import agenda_html, agenda_rows, ics_bytes, read_plan, schedule_rows, write_outputs
from matcher.events.participants import guest_organisation, load_participants, load_requests
from matcher.events.planner import plan_event
from matcher.events.report import score_histogram, summary, summary_text
from matcher.events.scoring import PairScorer, random_scorer, score_matrix, sector_scorer
from matcher.events.synthetic import synthetic_organisations, synthetic_wishes
from matcher.events.verify import verify_plan

__all__ = [
    "Break", "Event", "Issue", "Meeting", "MeetingRequest", "Origin", "PairScorer", "Participant", "Plan", "PlanOptions",
    "PlanParticipant", "PlanStats", "RequestStatus", "Session", "Slot", "agenda_html", "agenda_rows",
    "candidate_matrix", "greedy_plan", "guest_organisation", "ics_bytes", "load_participants", "load_requests", "make_event",
    "plan_event", "random_scorer", "read_plan", "schedule_rows", "score_histogram", "score_matrix", "sector_scorer", "summary",
    "summary_text", "synthetic_organisations", "synthetic_wishes", "verify_plan", "write_outputs",
]
