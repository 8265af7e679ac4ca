"""Request and response bodies of the API.

Each resource has separate models for what a client sends to create it (``XCreate``), to
change it (``XPatch``, every field optional) and what the API returns (``XPublic``). Request
models forbid unknown fields, so a typo is a 422 instead of being silently ignored. The
nested parts (facts, contact, sources) reuse the record schema of :mod:`matcher.profiles`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from matcher.errors import InvalidProfile
from matcher.events import Break, Event, MeetingRequest
from matcher.explain import Explanation
from matcher.profiles import (
    ACRONYM_MAX,
    DESCRIPTION_MAX,
    ID_MAX,
    LIST_MAX,
    NAME_MAX,
    REGION_MAX,
    SECTOR_MAX,
    WEBSITE_MAX,
    Confidence,
    Contact,
    Cooperation,
    CooperationType,
    Facts,
    NoNul,
    Organisation,
    OrgType,
    Scope,
    ShortList,
    Side,
    Source,
    Split,
    Tier,
    Verdict,
    bounded,
    error_field,
    optional,
)
from matcher.text import slugify

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


#: A timestamp shown with its UTC offset (the store may hand back naive UTC times).
UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]
COUNTRY = r"^[A-Z]{2}$"


class Request(NoNul):
    """Base of request bodies: unknown fields are errors, strings are stripped, NUL characters
    (which no text field needs and PostgreSQL cannot store) are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Public(BaseModel):
    """Base of response bodies."""

    model_config = ConfigDict(extra="ignore")


def validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate ``data`` as ``model``; a failure is an :class:`InvalidProfile` naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = error_field(err)
        raise InvalidProfile(str(err["msg"]).removeprefix("Value error, "), field) from None


# --- errors -------------------------------------------------------------------------------


class ErrorDetail(Public):
    status: int
    code: str = Field(description="machine-readable reason, e.g. not_found, validation_error, rate_limited")
    message: str
    field: str | None = Field(default=None, description="the offending field, when there is one")


class ErrorBody(Public):
    """The body of every error response."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "malformed request (for example a Content-Length that is not a number)",
        401: "no API key, or an unknown or revoked one",
        403: "the API key's scope does not allow this",
        404: "no such resource",
        409: "conflicts with stored data",
        413: "request body too large",
        422: "invalid input",
        429: "rate limit exceeded (see Retry-After)",
        500: "unexpected server error",
        503: "not ready",
        504: "request took too long",
    }.items()
}


# --- clusters -----------------------------------------------------------------------------


def derived_id(text: str, limit: int, fallback: str) -> str:
    """A slug of ``text``; for text with no letter that transliterates, ``<fallback>-<hash>``, so
    that different names never share an id."""
    slug = slugify(text)[:limit].strip("-")
    return slug or f"{fallback}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:10]}"



class ClusterCreate(Request):
    """A new organisation profile; ``id`` defaults to a slug of the name. Limits as in the README."""

    id: str | None = Field(default=None, pattern=SLUG, max_length=ID_MAX)
    name: bounded(NAME_MAX, 2)  # type: ignore[valid-type]
    aliases: ShortList = Field(default_factory=list)  # type: ignore[valid-type]
    acronym: optional(ACRONYM_MAX) = None  # type: ignore[valid-type]
    side: Side
    country: str = Field(pattern=COUNTRY)
    region: optional(REGION_MAX) = None  # type: ignore[valid-type]
    type: OrgType = OrgType.CLUSTER
    sectors: list[bounded(SECTOR_MAX)] = Field(min_length=1, max_length=LIST_MAX)  # type: ignore[valid-type]
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    facts: Facts = Field(default_factory=Facts)
    website: optional(WEBSITE_MAX) = None  # type: ignore[valid-type]
    contact: Contact | None = None
    sources: list[Source] = Field(default_factory=list, max_length=LIST_MAX)

    def to_organisation(self) -> Organisation:
        data = self.model_dump()
        data["id"] = self.id or derived_id(self.name, ID_MAX, "organisation")
        return validated(Organisation, data)


#: Fields every profile has: a patch may change them but not clear them with ``null``.
REQUIRED_PROFILE_FIELDS = ("name", "side", "country", "type", "sectors")


class ClusterPatch(Request):
    """Changes to a profile: only the fields given are changed (the id cannot change)."""

    name: bounded(NAME_MAX, 2) | None = None  # type: ignore[valid-type]
    aliases: ShortList | None = None  # type: ignore[valid-type]
    acronym: optional(ACRONYM_MAX) = None  # type: ignore[valid-type]
    side: Side | None = None
    country: str | None = Field(default=None, pattern=COUNTRY)
    region: optional(REGION_MAX) = None  # type: ignore[valid-type]
    type: OrgType | None = None
    sectors: list[bounded(SECTOR_MAX)] | None = Field(default=None, min_length=1, max_length=LIST_MAX)  # type: ignore[valid-type]
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    facts: Facts | None = None
    website: optional(WEBSITE_MAX) = None  # type: ignore[valid-type]
    contact: Contact | None = None
    sources: list[Source] | None = Field(default=None, max_length=LIST_MAX)

    @model_validator(mode="after")
    def _required_not_cleared(self) -> "ClusterPatch":
        for name in REQUIRED_PROFILE_FIELDS:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise PydanticCustomError("required_field", "cannot be cleared with null; every profile has one",
                                          {"field": name})
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the client sent (an explicit ``null`` clears an optional field)."""
        return self.model_dump(mode="json", exclude_unset=True)


class ClusterPublic(Public):
    """An organisation as the API shows it; ``contact`` only to callers with a key."""

    id: str
    name: str
    aliases: list[str] = []
    acronym: str | None = None
    side: Side
    country: str
    region: str | None = None
    type: OrgType
    sectors: list[str]
    description: str = ""
    facts: Facts = Field(default_factory=Facts)
    website: str | None = None
    contact: Contact | None = None
    sources: list[Source] = []

    @classmethod
    def of(cls, org: Organisation, show_contact: bool) -> "ClusterPublic":
        data = org.model_dump()
        if not show_contact:
            data["contact"] = None
        return cls.model_validate(data)


class ClusterPage(Public):
    """One page of a listing, with the total number of matches."""

    items: list[ClusterPublic]
    total: int
    limit: int
    offset: int


# --- suggestions --------------------------------------------------------------------------


class SuggestionPublic(Public):
    """A suggested partner with its score and the reasons for it."""

    rank: int
    id: str
    name: str
    side: Side
    country: str
    type: OrgType
    sectors: list[str]
    score: float = Field(description="reciprocal score in [0, 1]: the pair suits both sides")
    probability: float | None = Field(description=(
        "calibrated chance that such a pair is a documented cooperation, measured on organisations held out of "
        "training; null when too few cooperations are documented to calibrate"))
    explanation: Explanation


class QueryPublic(Public):
    id: str | None = None
    name: str
    side: Side
    sectors: list[str] = Field(default_factory=list, description="the query's sectors; for POST /match "
                               "without sectors, the sectors read from its name and description")


class SuggestionsPublic(Public):
    """Suggestions for one profile, best first; ``note`` says why the list may be short."""

    query: QueryPublic
    items: list[SuggestionPublic]
    note: str | None = None
    filters: dict[str, Any] = Field(default_factory=dict)
    data_version: str = ""


class MatchRequest(Request):
    """A profile that is not stored, to get suggestions for it."""

    name: bounded(NAME_MAX, 2)  # type: ignore[valid-type]
    side: Side
    sectors: list[bounded(SECTOR_MAX)] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=LIST_MAX,
        description="ids, names or synonyms (EN/ES); when empty, the main sector is read from the name and description (query.sectors says which)")
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    country: str | None = Field(default=None, pattern=COUNTRY)
    type: OrgType = OrgType.CLUSTER


# --- cooperations -------------------------------------------------------------------------


class CooperationCreate(Request):
    """A documented cooperation between one EU and one MX organisation; ``id`` defaults to a slug of
    the parties, the type and the year."""

    id: str | None = Field(default=None, pattern=SLUG, max_length=200)
    eu: str = Field(min_length=1, max_length=ID_MAX)
    mx: str = Field(min_length=1, max_length=ID_MAX)
    type: CooperationType
    year: int | None = Field(default=None, ge=1990, le=2100)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    sources: list[Source] = Field(default_factory=list, max_length=LIST_MAX)
    confidence: Confidence = Confidence.HIGH

    def to_cooperation(self) -> Cooperation:
        data = self.model_dump()
        year = "" if self.year is None else f" {self.year}"
        data["id"] = self.id or derived_id(f"{self.eu} {self.mx} {self.type.value}{year}", 200, "cooperation")
        return validated(Cooperation, data)


class CooperationPublic(Public):
    id: str
    eu: str
    mx: str
    type: CooperationType
    year: int | None = None
    description: str = ""
    sources: list[Source] = []
    confidence: Confidence = Confidence.HIGH
    tier: Tier = Tier.USER
    split: Split = Split.TRAIN


class CooperationPage(Public):
    items: list[CooperationPublic]
    total: int
    limit: int
    offset: int


# --- feedback -----------------------------------------------------------------------------


class FeedbackCreate(Request):
    """A verdict on a suggestion: ``org`` asked, ``partner`` was suggested."""

    org: str = Field(min_length=1, max_length=200)
    partner: str = Field(min_length=1, max_length=200)
    verdict: Verdict
    note: str | None = Field(default=None, max_length=2000)


class FeedbackPublic(Public):
    id: int
    org: str
    partner: str
    verdict: Verdict
    note: str | None = None
    created_at: UtcDatetime


# --- API keys -----------------------------------------------------------------------------


class KeyCreate(Request):
    scope: Scope = Scope.WRITE
    name: str | None = Field(default=None, min_length=1, max_length=200)


class KeyPublic(Public):
    id: str
    name: str
    scope: str
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None = None


class KeyCreated(KeyPublic):
    """A new key; ``secret`` is shown this once and never stored in clear."""

    secret: str


# --- service ------------------------------------------------------------------------------


class Health(Public):
    status: str
    version: str


class Readiness(Public):
    status: str
    checks: dict[str, Any]


class ModelCard(Public):
    """What the suggestions are computed with."""

    embedding_model: str
    embedding_dim: int
    data_version: str
    ranker_training_pairs: int | None = None
    ranker: dict[str, Any] = Field(description="the ranker's own card: features, coefficients, threshold")
    evaluation: dict[str, Any] | None = Field(
        default=None, description="figures of the last `c2c evaluate` run; null when none has run yet")


# --- events -------------------------------------------------------------------------------


class EventCreate(Event):
    """A B2B event's timetable and meeting rules; ``id`` defaults to a slug of the name."""

    id: str | None = Field(default=None, pattern=SLUG, max_length=80)


class EventInfo(Public):
    """An event's timetable as the API shows it (``start`` is local time at the venue)."""

    name: str
    days: list[dt.date]
    start: str = Field(pattern=r"^\d{2}:\d{2}(:\d{2})?$", description="local time of the first slot, HH:MM[:SS]")
    slots_per_day: int
    meeting_minutes: int
    breaks: list[Break]
    tables: int
    max_meetings: int | None = None
    min_meetings: int
    timezone: str
    venue: str

    @classmethod
    def of(cls, event: Event) -> "EventInfo":
        data = event.model_dump(mode="json")
        data["start"] = event.start.strftime("%H:%M:%S")
        return cls.model_validate(data)


class EventPublic(Public):
    id: str
    event: EventInfo
    participants: int
    requests: int
    revision: int
    planned: bool = Field(description="a plan exists")
    plan_current: bool = Field(description="the plan was made from the current participants and requests")


class ParticipantIn(Request):
    """A participant: a registered organisation (``ref``: id, name, alias or acronym) or a guest
    (``name``, ``side``, ``sectors`` and optionally ``description``, ``country``, ``type``)."""

    ref: str | None = Field(default=None, min_length=1, max_length=300)
    name: str | None = Field(default=None, min_length=2, max_length=300)
    side: Side | None = None
    sectors: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field(default="", max_length=5000)
    country: str | None = Field(default=None, pattern=COUNTRY)
    type: OrgType | None = None
    acronym: str | None = Field(default=None, max_length=50)
    available: list[str] | None = Field(default=None, max_length=500)
    unavailable: list[str] = Field(default_factory=list, max_length=500)
    must_meet: list[str] = Field(default_factory=list, max_length=500)
    will_not_meet: list[str] = Field(default_factory=list, max_length=500)
    max_meetings: int | None = Field(default=None, ge=0, le=1000)
    min_meetings: int | None = Field(default=None, ge=0, le=1000)


class ParticipantsAdd(Request):
    """Participants (and meeting requests) to add to an event in one go, all or nothing."""

    participants: list[ParticipantIn] = Field(default_factory=list, max_length=5000)
    requests: list[MeetingRequest] = Field(default_factory=list, max_length=50_000)
    replace: bool = Field(default=False, description="replace the participants and requests instead of adding")


class ParticipantPublic(Public):
    id: str
    name: str
    side: Side
    country: str
    registered: bool


class ParticipantsPublic(Public):
    event: str
    participants: list[ParticipantPublic]
    requests: int
    revision: int


class PlanRequest(Request):
    """How to plan; ``keep_previous`` re-plans around the earlier plan's meetings."""

    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    time_limit: float = Field(default=5.0, gt=0, le=3600, description="solver budget in seconds")
    same_side: bool = False
    exclude_existing: bool = Field(default=False, description="do not plan pairs that already cooperate")
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    keep_previous: bool = True
    scorer: str = Field(default="model", pattern="^(model|sectors)$",
                        description="model: the partner ranker's reciprocal scores; sectors: sector overlap")


class PlanPublic(Public):
    event: str
    revision: int
    planned_at: dt.datetime
    summary: dict[str, Any]


class ScheduleRow(Public):
    day: dt.date
    start: str
    end: str
    session: str
    slot: int
    table: int
    a_id: str
    a_name: str
    a_side: Side
    b_id: str
    b_name: str
    b_side: Side
    score: float
    origin: str
    kept: bool


class SchedulePublic(Public):
    event: str
    revision: int
    plan_current: bool
    meetings: list[ScheduleRow]
