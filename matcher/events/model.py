"""The B2B event model: the event's timetable, its participants and their meeting requests.

An event runs on one or more days; each day has ``slots_per_day`` meeting slots of
``meeting_minutes`` starting at ``start``, with optional breaks after given slots. The runs of
slots between breaks are *sessions* (``2026-10-12/1``, ``2026-10-12/2``, ...), the unit in which
participants state their availability. Tables are interchangeable: a slot holds at most
``tables`` meetings.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from matcher.errors import EventError
from matcher.profiles import NoNul, Organisation, Side, error_field


class _Strict(NoNul):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Break(_Strict):
    """A pause after the ``after_slot``-th slot of every day."""

    after_slot: int = Field(ge=1)
    minutes: int = Field(ge=1, le=24 * 60)


class Slot(_Strict):
    """One meeting slot: global ``index`` (0-based, in time order) and its place in the day."""

    index: int
    day: dt.date
    number: int
    session: str
    start: dt.datetime
    end: dt.datetime

    @property
    def label(self) -> str:
        return f"{self.day.isoformat()} {self.start:%H:%M}"


class Session(_Strict):
    """A run of consecutive slots on one day between breaks."""

    id: str
    day: dt.date
    number: int
    slots: list[int]
    start: dt.datetime
    end: dt.datetime


class Event(_Strict):
    """An event's timetable and meeting rules."""

    name: str = Field(default="B2B meetings", min_length=1, max_length=200)
    days: list[dt.date] = Field(min_length=1, max_length=31)
    start: dt.time = dt.time(9, 0)
    slots_per_day: int = Field(ge=1, le=96)
    meeting_minutes: int = Field(default=30, ge=5, le=480)
    breaks: list[Break] = Field(default_factory=list)
    tables: int = Field(ge=1, le=10_000)
    max_meetings: int | None = Field(default=None, ge=1, le=10_000)
    min_meetings: int = Field(default=0, ge=0, le=10_000)
    timezone: str = Field(default="America/Mexico_City", min_length=1, max_length=64)
    venue: str = Field(default="", max_length=300)

    _slots: list[Slot] | None = PrivateAttr(default=None)

    @field_validator("days")
    @classmethod
    def _distinct_days(cls, days: list[dt.date]) -> list[dt.date]:
        if len(set(days)) != len(days):
            raise ValueError("days must be distinct")
        return sorted(days)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a folder of the zone database ("America") or a name too long for a path.
            raise ValueError(f"unknown time zone {name[:64]!r}") from None
        return name

    @model_validator(mode="after")
    def _fits(self) -> "Event":
        afters = [b.after_slot for b in self.breaks]
        if len(set(afters)) != len(afters):
            raise ValueError("breaks: two breaks after the same slot")
        if any(a >= self.slots_per_day for a in afters):
            raise ValueError("breaks: a break must come after a slot before the day's last slot")
        if self.max_meetings is not None and self.min_meetings > self.max_meetings:
            raise ValueError("min_meetings is larger than max_meetings")
        minutes = self.slots_per_day * self.meeting_minutes + sum(b.minutes for b in self.breaks)
        if self.start.hour * 60 + self.start.minute + minutes > 24 * 60:
            raise ValueError("the day's slots and breaks run past midnight")
        self.breaks = sorted(self.breaks, key=lambda b: b.after_slot)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def slot_count(self) -> int:
        return len(self.days) * self.slots_per_day

    @property
    def capacity(self) -> int:
        """Most meetings the event can hold (slots × tables)."""
        return self.slot_count * self.tables

    def slots(self) -> list[Slot]:
        """Every slot of the event in time order."""
        if self._slots is None:
            pause = {b.after_slot: b.minutes for b in self.breaks}
            out: list[Slot] = []
            for day in self.days:
                at = dt.datetime.combine(day, self.start, tzinfo=self.zone)
                session = 1
                for number in range(1, self.slots_per_day + 1):
                    end = at + dt.timedelta(minutes=self.meeting_minutes)
                    out.append(Slot(index=len(out), day=day, number=number,
                                    session=f"{day.isoformat()}/{session}", start=at, end=end))
                    at = end
                    if number in pause:
                        at += dt.timedelta(minutes=pause[number])
                        session += 1
            self._slots = out
        return self._slots

    def sessions(self) -> list[Session]:
        """The sessions (runs of slots between breaks) in time order."""
        grouped: dict[str, list[Slot]] = {}
        for slot in self.slots():
            grouped.setdefault(slot.session, []).append(slot)
        return [
            Session(id=sid, day=run[0].day, number=int(sid.rsplit("/", 1)[1]),
                    slots=[s.index for s in run], start=run[0].start, end=run[-1].end)
            for sid, run in grouped.items()
        ]

    def slots_for(self, tokens: list[str] | None, *, where: str = "available") -> set[int]:
        """Slot indices named by session ids (``2026-10-12/1``) or days (``2026-10-12``).

        ``None`` means every slot. Unknown tokens raise :class:`EventError` naming ``where``.
        """
        if tokens is None:
            return set(range(self.slot_count))
        by_session: dict[str, set[int]] = {}
        by_day: dict[str, set[int]] = {}
        for slot in self.slots():
            by_session.setdefault(slot.session, set()).add(slot.index)
            by_day.setdefault(slot.day.isoformat(), set()).add(slot.index)
        out: set[int] = set()
        for token in tokens:
            key = token.strip()
            found = by_session.get(key, by_day.get(key))
            if found is None:
                known = ", ".join(list(by_session)[:6])
                raise EventError(f"{where}: {token!r} is neither a session ({known}, ...) nor a day of the event")
            out |= found
        return out


class Participant(_Strict):
    """An organisation taking part, with its availability and meeting wishes.

    ``must_meet`` and ``will_not_meet`` name other participants by id or name; ``available``
    (``None`` = the whole event) and ``unavailable`` name sessions or days.
    """

    organisation: Organisation
    available: list[str] | None = None
    unavailable: list[str] = Field(default_factory=list)
    must_meet: list[str] = Field(default_factory=list)
    will_not_meet: list[str] = Field(default_factory=list)
    max_meetings: int | None = Field(default=None, ge=0, le=10_000)
    min_meetings: int | None = Field(default=None, ge=0, le=10_000)

    @property
    def id(self) -> str:
        return self.organisation.id

    @property
    def name(self) -> str:
        return self.organisation.name

    @property
    def side(self) -> Side:
        return self.organisation.side

    def slot_indices(self, event: Event) -> set[int]:
        """The slots in which this participant can meet."""
        where = f"participant {self.name!r}"
        return event.slots_for(self.available, where=f"{where}, available") - (
            event.slots_for(self.unavailable, where=f"{where}, unavailable") if self.unavailable else set()
        )


class RequestStatus(str, Enum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class MeetingRequest(_Strict):
    """One participant asking to meet another; ``accepted`` requests are planned first,
    ``declined`` ones are never planned."""

    requester: str = Field(min_length=1)
    target: str = Field(min_length=1)
    status: RequestStatus = RequestStatus.REQUESTED


class PlanOptions(_Strict):
    """How to plan. Bonuses are in score units (pair scores are in [0, 1]).

    ``candidates`` bounds the pairs the planner looks at: each participant's best-scored
    counterparts (see :meth:`candidate_count`); a number at least the participant count keeps
    every pair. ``candidates_per_participant`` sizes the integer model of same-side events.
    """

    seed: int = 0
    time_limit: float = Field(default=10.0, gt=0, le=3600)
    same_side: bool = False
    exclude_pairs: list[tuple[str, str]] = Field(default_factory=list)
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    request_bonus: float = Field(default=0.25, ge=0.0, le=10.0)
    min_bonus: float = Field(default=0.5, ge=0.0, le=10.0)
    candidates_per_participant: int = Field(default=20, ge=1)
    candidates: int | None = Field(default=None, ge=1)

    def candidate_count(self, most_meetings: int) -> int:
        """Counterparts per participant to consider: ``candidates``, or by default four times the
        largest meeting limit and at least 40 (a pair is a candidate if either side ranks it so)."""
        return self.candidates if self.candidates is not None else max(40, 4 * most_meetings)


class Origin(str, Enum):
    """Why a meeting is in the plan, strongest reason first."""

    MUST_MEET = "must_meet"
    ACCEPTED = "accepted"
    REQUESTED = "requested"
    SUGGESTED = "suggested"


class Meeting(_Strict):
    """A planned meeting: two participants at a table in a slot."""

    slot: int
    table: int
    start: dt.datetime
    end: dt.datetime
    a: str
    b: str
    score: float
    origin: Origin
    kept: bool = False

    @property
    def pair(self) -> tuple[str, str]:
        return (self.a, self.b)


class Issue(_Strict):
    """A constraint that could not be met, naming the participants involved."""

    kind: str
    participants: list[str]
    message: str


class PlanParticipant(_Strict):
    """A participant as the plan's outputs show it."""

    id: str
    name: str
    side: Side
    country: str
    type: str
    available_slots: int
    max_meetings: int
    min_meetings: int
    meetings: int


class PlanStats(_Strict):
    """Quality figures of a plan."""

    status: str
    objective: float
    upper_bound: float
    gap: float
    total_score: float
    meetings: int
    capacity: int
    candidate_pairs: int
    participants: int
    participants_without_meetings: int
    reaching_min: int
    spread: dict[str, float]
    score_quantiles: dict[str, float]
    slot_utilisation: list[float]
    requests: dict[str, dict[str, int]] = Field(default_factory=dict)
    unplaced_after_choice: int
    kept_from_previous: int
    dropped_from_previous: int
    solve_seconds: float
    time_limited: bool = False


class Plan(_Strict):
    """The result of planning: meetings, the constraint report and quality figures."""

    event: Event
    options: PlanOptions
    participants: list[PlanParticipant]
    meetings: list[Meeting]
    issues: list[Issue]
    stats: PlanStats

    def participant(self, pid: str) -> PlanParticipant:
        for p in self.participants:
            if p.id == pid:
                return p
        raise EventError(f"participant {pid!r} is not in the plan")

    def meetings_of(self, pid: str) -> list[Meeting]:
        return [m for m in self.meetings if pid in (m.a, m.b)]


def make_event(**fields: object) -> Event:
    """Build an :class:`Event`, turning schema errors into :class:`EventError` naming the field."""

    try:
        return Event.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = error_field(err) or "event"
        raise EventError(f"event {field}: {err['msg']}") from None
