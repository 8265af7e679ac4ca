"""B2B events: create one, add participants in bulk, plan the meetings, read the schedule and
each participant's agenda (JSON or iCalendar).

Planning calls :func:`matcher.events.plan_event` with the partner ranker's reciprocal scores
(``Suggester.score_pairs``) for EU–MX pairs; same-side pairs, when asked for, and the
``sectors`` scorer use the sector-overlap scores of :mod:`matcher.events`.
"""

from __future__ import annotations

from typing import Annotated, Any, Sequence

import numpy as np
from fastapi import APIRouter, Path, Response, status

from api.auth import Reader, Writer
from api.deps import EventsDep, RegistryDep, SettingsDep, SuggesterDep
from api.errors import ApiError
from api.schemas import (
    EventCreate,
    EventInfo,
    EventPublic,
    ParticipantIn,
    ParticipantPublic,
    ParticipantsAdd,
    ParticipantsPublic,
    PlanPublic,
    PlanRequest,
    SchedulePublic,
    ScheduleRow,
)
from matcher.errors import C2CError, EventError, InvalidProfile
from matcher.events import (
    Event,
    PairScorer,
    Participant,
    Plan,
    PlanOptions,
    agenda_rows,
    guest_organisation,
    ics_bytes,
    plan_event,
    schedule_rows,
    sector_scorer,
    summary,
)
from matcher.events.store import EventRecord, EventStore, StoredPlan
from matcher.profiles import Organisation, OrgType, Side
from matcher.store.registry import Registry
from matcher.ranking import Suggester

EventId = Annotated[str, Path(min_length=1, max_length=80, description="event id")]
ParticipantId = Annotated[str, Path(min_length=1, max_length=200, description="participant id")]

router = APIRouter(prefix="/events", tags=["events"])


def model_scorer(suggester: Suggester) -> PairScorer:
    """EU×MX blocks from the partner ranker; same-side blocks by sector overlap."""

    def score(a: Sequence[Organisation], b: Sequence[Organisation]) -> np.ndarray:
        if all(o.side is Side.EU for o in a) and all(o.side is Side.MX for o in b):
            return suggester.score_pairs(list(a), list(b))
        return sector_scorer(list(a), list(b))

    return score


def _participant(item: ParticipantIn, where: str, event: Event, registry: Registry) -> Participant:
    if item.ref:
        try:
            org = registry.lookup(item.ref)
        except C2CError as exc:
            raise InvalidProfile(str(exc).splitlines()[0], f"{where}.ref") from None
    else:
        if not (item.name and item.side and item.sectors):
            raise InvalidProfile("give ref (a registered organisation) or name, side and sectors (a guest)", where)
        org = guest_organisation(where, name=item.name, side=item.side, sectors=item.sectors,
                                 description=item.description, country=item.country,
                                 type=item.type or OrgType.COMPANY, acronym=item.acronym)
    participant = Participant(
        organisation=org, available=item.available, unavailable=item.unavailable, must_meet=item.must_meet,
        will_not_meet=item.will_not_meet, max_meetings=item.max_meetings, min_meetings=item.min_meetings,
    )
    for field in ("available", "unavailable"):
        event.slots_for(getattr(participant, field) or None, where=f"{where}.{field}")
    return participant


def _add(record: EventRecord, body: ParticipantsAdd, registry: Registry) -> EventRecord:
    people = [] if body.replace else list(record.participants)
    taken = {p.id for p in people}
    for i, item in enumerate(body.participants):
        where = f"participants.{i}"
        participant = _participant(item, where, record.event, registry)
        if participant.id in taken:
            if item.ref:
                raise InvalidProfile(f"{participant.name!r} is already a participant", f"{where}.ref")
            base, n = participant.id, 2
            while f"{base}-{n}" in taken:
                n += 1
            org = participant.organisation.model_copy(update={"id": f"{base}-{n}"})
            participant = participant.model_copy(update={"organisation": org})
        taken.add(participant.id)
        people.append(participant)
    requests = ([] if body.replace else list(record.requests)) + list(body.requests)
    return record.model_copy(update={"participants": people, "requests": requests})


def _event_public(record: EventRecord, stored: StoredPlan | None) -> EventPublic:
    return EventPublic(id=record.id, event=EventInfo.of(record.event), participants=len(record.participants),
                       requests=len(record.requests), revision=record.revision, planned=stored is not None,
                       plan_current=stored is not None and stored.revision == record.revision)


def _schedule(plan: Plan) -> list[ScheduleRow]:
    rows = sorted(schedule_rows(plan), key=lambda row: (row["slot"], row["table"]))
    return [ScheduleRow.model_validate(row) for row in rows]


def _planned(events: EventStore, event_id: str) -> StoredPlan:
    stored = events.plan(event_id)
    if stored is None:
        raise ApiError(404, f"event {event_id!r} has no plan yet; POST /events/{event_id}/plan first", "not_found")
    return stored


def _member(plan: Plan, participant: str) -> None:
    if participant not in {p.id for p in plan.participants}:
        raise ApiError(404, f"{participant!r} is not a participant of the plan", "not_found", field="participant")


@router.post("", response_model=EventPublic, status_code=status.HTTP_201_CREATED, summary="Create an event")
def create_event(
    body: EventCreate,
    response: Response,
    caller: Writer,
    events: EventsDep,
) -> EventPublic:
    fields = body.model_dump(exclude={"id"})
    event = Event.model_validate(fields)
    record = events.create(body.id or events.new_id(event.name), event)
    response.headers["Location"] = f"/events/{record.id}"
    return _event_public(record, None)


@router.get("/{id}", response_model=EventPublic, summary="An event and whether it is planned")
def get_event(id: EventId, caller: Reader, events: EventsDep) -> EventPublic:
    record = events.get(id)
    return _event_public(record, events.plan(id))


@router.post("/{id}/participants", response_model=ParticipantsPublic,
             summary="Add participants (registered or guests) and meeting requests, all or nothing")
def add_participants(
    body: ParticipantsAdd,
    id: EventId,
    caller: Writer,
    events: EventsDep,
    registry: RegistryDep,
) -> ParticipantsPublic:
    record = events.update(id, lambda current: _add(current, body, registry))
    people = [ParticipantPublic(id=p.id, name=p.name, side=p.side, country=p.organisation.country,
                                registered=registry.exists(p.id)) for p in record.participants]
    return ParticipantsPublic(event=id, participants=people, requests=len(record.requests),
                              revision=record.revision)


@router.post("/{id}/plan", response_model=PlanPublic, summary="Plan (or re-plan) the event's meetings")
def plan(
    id: EventId,
    caller: Writer,
    events: EventsDep,
    registry: RegistryDep,
    suggester: SuggesterDep,
    settings: SettingsDep,
    body: PlanRequest | None = None,
) -> PlanPublic:
    body = body or PlanRequest()
    timeout = settings.api_request_timeout_s
    max_solve = max(1.0, 0.8 * timeout) if timeout > 0 else 3600.0
    if body.time_limit > max_solve:
        raise InvalidProfile(f"at most {max_solve:g} s on this server (request time-out)", "time_limit")
    record = events.get(id)
    if not record.participants:
        raise EventError(f"event {id!r} has no participants; POST /events/{id}/participants first")
    pairs = [c.pair for c in registry.all_cooperations()] if body.exclude_existing else []
    options = PlanOptions(seed=body.seed, time_limit=body.time_limit, same_side=body.same_side,
                          exclude_pairs=pairs, min_score=body.min_score)
    earlier = events.plan(id) if body.keep_previous else None
    scorer = sector_scorer if body.scorer == "sectors" else model_scorer(suggester)
    result = plan_event(record.event, record.participants, record.requests, scorer, options,
                        earlier.plan if earlier else None)
    stored = events.save_plan(id, record.revision, result)
    return PlanPublic(event=id, revision=stored.revision, planned_at=stored.planned_at, summary=summary(result))


@router.get("/{id}/schedule", response_model=SchedulePublic, summary="Every planned meeting in time order")
def schedule(
    id: EventId, caller: Reader, events: EventsDep
) -> SchedulePublic:
    stored = _planned(events, id)
    record = events.get(id)
    return SchedulePublic(event=id, revision=stored.revision, plan_current=stored.revision == record.revision,
                          meetings=_schedule(stored.plan))


@router.get("/{id}/agenda/{participant}.ics", response_class=Response,
            responses={200: {"content": {"text/calendar": {"schema": {"type": "string"}}}}},
            summary="A participant's meetings as an iCalendar file")
def agenda_ics(
    id: EventId, participant: ParticipantId, caller: Reader,
    events: EventsDep,
) -> Response:
    stored = _planned(events, id)
    _member(stored.plan, participant)
    return Response(ics_bytes(stored.plan, participant), media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{participant}.ics"'})


@router.get("/{id}/agenda/{participant}", response_model=list[dict[str, Any]],
            summary="A participant's meetings in time order")
def agenda(
    id: EventId, participant: ParticipantId, caller: Reader,
    events: EventsDep,
) -> list[dict[str, Any]]:
    stored = _planned(events, id)
    _member(stored.plan, participant)
    return agenda_rows(stored.plan, participant)

