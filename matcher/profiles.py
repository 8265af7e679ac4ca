"""The registry's records: organisations, cooperations and their parts, verdicts on suggestions
and API keys.

These pydantic models are the schema of the shipped dataset, of imports and of the API
bodies built on top of them. Validation errors name the offending field.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator,
                      model_validator)
from pydantic_core import PydanticCustomError

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class Side(str, Enum):
    """Which side of the Atlantic an organisation is on."""

    EU = "EU"
    MX = "MX"

    @property
    def counterpart(self) -> "Side":
        return Side.MX if self is Side.EU else Side.EU


class OrgType(str, Enum):
    """What kind of organisation a profile describes."""

    CLUSTER = "cluster_organisation"
    ASSOCIATION = "industry_association"
    PUBLIC_AGENCY = "public_agency"
    EDUCATION_RESEARCH = "education_research"
    COMPANY = "company"
    PARTNERSHIP = "partnership_network"


class CooperationType(str, Enum):
    """Documented cooperation types, strongest first."""

    SIGNED_MOU = "signed_mou"
    TRAINING = "training_resource_sharing"
    MOU_DISCUSSION = "mou_under_discussion"
    DELEGATION = "delegation_visit"
    INFORMATION = "information_exchange"
    LISTED = "listed"


class Verdict(str, Enum):
    """What became of a suggestion (feedback from its users)."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    MET = "met"
    AGREEMENT_SIGNED = "agreement_signed"


class Scope(str, Enum):
    """What an API key may do, least first: ``admin`` covers ``write``, which covers ``read``."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    def covers(self, other: "Scope") -> bool:
        members = list(Scope)
        return members.index(self) >= members.index(other)


@dataclass(frozen=True)
class Feedback:
    """A stored verdict: what became of suggesting ``suggested_id`` to ``subject_id``."""

    id: int
    subject_id: str
    suggested_id: str
    verdict: Verdict
    comment: str | None
    created_at: dt.datetime
    api_key_id: str | None


@dataclass(frozen=True)
class ApiKey:
    """A stored API key (its secret is only ever shown once, at creation)."""

    id: str
    name: str
    scope: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


#: Default training weight of each cooperation type (stronger evidence weighs more).
COOPERATION_WEIGHTS: dict[CooperationType, float] = {
    CooperationType.SIGNED_MOU: 1.0,
    CooperationType.TRAINING: 1.0,
    CooperationType.MOU_DISCUSSION: 0.8,
    CooperationType.DELEGATION: 0.7,
    CooperationType.INFORMATION: 0.6,
    CooperationType.LISTED: 0.7,
}


class Confidence(str, Enum):
    """How directly a source documents a cooperation between the two named parties."""

    HIGH = "high"  # the source reports the act between the two named organisations
    MEDIUM = "medium"  # the act is reported, one party is named loosely
    LOW = "low"  # indirect evidence


class Tier(str, Enum):
    """Where a cooperation record comes from."""

    SEED = "seed"  # the five source documents of the shipped dataset
    WEB = "web"  # public web pages (news, cluster and agency sites), curated for the dataset
    USER = "user"  # recorded through the API or an import


class Split(str, Enum):
    """Which part of the evaluation a documented cooperation belongs to.

    ``test`` records (the newest pairs) form the external test part: they are never used for
    training, features, thresholds or model choice.
    """

    TRAIN = "train"
    TEST = "test"


#: Characters no text field may hold: NUL and the other control characters except tab and line
#: breaks (PostgreSQL cannot store NUL, XLSX cannot hold any of them), lone surrogates (not
#: encodable as UTF-8) and the two non-characters XML refuses.
FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def nul_path(value: Any, path: str = "") -> str | None:
    """Where in a raw value (JSON-like) a string holds a forbidden character; ``None`` if nowhere."""
    if isinstance(value, str):
        return (path or "body") if FORBIDDEN_CHARACTERS.search(value) else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and FORBIDDEN_CHARACTERS.search(key):
            return f"{path}.{key!r}" if path else repr(key)
        found = nul_path(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def _one_line_ending(value: Any) -> Any:
    """``value`` with every ``\r\n`` and lone ``\r`` in its strings made ``\n`` (files of every
    format keep ``\n`` as it is; spreadsheets do not keep ``\r``)."""
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n") if "\r" in value else value
    if isinstance(value, dict):
        return {k: _one_line_ending(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_one_line_ending(v) for v in value]
    return value


class NoNul(BaseModel):
    """Refuses NUL and other control characters anywhere in its input (no text needs one,
    PostgreSQL cannot store NUL, a spreadsheet cell cannot hold any) and stores line breaks as
    ``\n``."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        where = nul_path(data)
        if where:
            raise PydanticCustomError(
                "nul_character", "text must not contain NUL or other control characters (tab and line breaks "
                "excepted)", {"field": where})
        return _one_line_ending(data)


def error_field(error: Any) -> str | None:
    """The field a pydantic error is about: its location, or the field a model-wide check named."""
    where = ".".join(str(p) for p in error.get("loc", ()))
    return where or (error.get("ctx") or {}).get("field")


# --- limits of the record schema (README: "Field limits") --------------------------------------
#: Largest text of a spreadsheet cell; every exported cell stays below it.
XLSX_CELL_LIMIT = 32_767
ID_MAX = 120
NAME_MAX = 300
SHORT_MAX = 300
ACRONYM_MAX = 50
REGION_MAX = 200
WEBSITE_MAX = 500
SECTOR_MAX = 100
DESCRIPTION_MAX = 20_000
NOTE_MAX = 2_000
LIST_MAX = 50
#: Longest compact JSON of ``facts``, ``contact`` or ``sources`` (each one cell in CSV and XLSX).
JSON_CELL_MAX = 32_000


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def bounded(max_length: int, min_length: int = 1) -> Any:
    """A stripped text of ``min_length`` to ``max_length`` characters."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)]


def optional(max_length: int) -> Any:
    """An optional text of at most ``max_length`` characters; blank text is no text."""
    text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=max_length)]
    return Annotated[text | None, BeforeValidator(_blank_to_none)]


ShortText = bounded(SHORT_MAX)
#: A list of at most LIST_MAX short texts.
ShortList = Annotated[list[ShortText], Field(max_length=LIST_MAX)]  # type: ignore[valid-type]


def json_cell_length(value: Any) -> int:
    """Characters of ``value`` as the compact JSON a CSV or XLSX cell holds."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def check_json_cell(field: str, value: Any) -> None:
    if json_cell_length(value) > JSON_CELL_MAX:
        raise PydanticCustomError(
            "cell_too_long", "too long: at most {limit} characters as JSON (one spreadsheet cell), got {length}",
            {"field": field, "limit": JSON_CELL_MAX, "length": json_cell_length(value)})


class Strict(NoNul):
    """Base model: unknown fields are errors, strings are stripped, NUL characters refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Source(Strict):
    """Where a record's facts come from.

    ``document`` is a source file of the seed set or the address of a public page; ``section``
    the section, table or page title. Web sources also name their ``publisher`` and ``date``
    (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``).
    """

    document: bounded(2000)  # type: ignore[valid-type]
    section: bounded(1000)  # type: ignore[valid-type]
    publisher: optional(SHORT_MAX) = None  # type: ignore[valid-type]
    date: str | None = Field(default=None, pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")

    def __str__(self) -> str:
        where = f"{self.document}, {self.section}"
        extra = ", ".join(p for p in (self.publisher, self.date) if p)
        return f"{where} ({extra})" if extra else where


class Label(Strict):
    """A cluster-management quality label (ESCA / ECEI)."""

    level: str = Field(pattern="^(gold|silver|bronze)$")
    sector: optional(SECTOR_MAX) = None  # type: ignore[valid-type]
    valid_until: dt.date | None = None


class Contact(Strict):
    """A contact person; shown only to keyed API callers."""

    name: ShortText  # type: ignore[valid-type]
    role: optional(SHORT_MAX) = None  # type: ignore[valid-type]
    email: optional(SHORT_MAX) = None  # type: ignore[valid-type]
    phone: optional(SHORT_MAX) = None  # type: ignore[valid-type]


class Facts(Strict):
    """Known facts about an organisation; every field is optional."""

    #: Bounded so that every count converts to a float: an unbounded integer once made every
    #: suggestion fail for everyone until the profile was deleted.
    members: int | None = Field(default=None, ge=0, le=10_000_000)
    members_note: optional(NOTE_MAX) = None  # type: ignore[valid-type]
    founded: int | None = Field(default=None, ge=1800, le=2100)
    #: The year the organisation closed (dissolved, or merged into another): it stays in the
    #: registry with its history, and is never suggested as a partner.
    closed: int | None = Field(default=None, ge=1800, le=2100)
    label: Label | None = None
    eccp_member: bool = False
    member_of: ShortList = Field(default_factory=list)  # type: ignore[valid-type]
    escp4i: ShortList = Field(default_factory=list)  # type: ignore[valid-type]
    mexico_interest: ShortList = Field(default_factory=list)  # type: ignore[valid-type]
    committees: ShortList = Field(default_factory=list)  # type: ignore[valid-type]
    specialities: ShortList = Field(default_factory=list)  # type: ignore[valid-type]
    notes: list[bounded(NOTE_MAX)] = Field(default_factory=list, max_length=LIST_MAX)  # type: ignore[valid-type]

    @field_validator("closed")
    @classmethod
    def _closed_after_founding(cls, value: int | None, info: ValidationInfo) -> int | None:
        founded = info.data.get("founded")
        if value is not None and founded is not None and value < founded:
            raise ValueError(f"closed in {value}, before it was founded ({founded})")
        return value


class Organisation(Strict):
    """A cluster organisation or another party to cluster cooperation."""

    id: str = Field(max_length=ID_MAX)
    name: bounded(NAME_MAX, 2)  # type: ignore[valid-type]
    aliases: ShortList = Field(default_factory=list)  # type: ignore[valid-type]
    acronym: optional(ACRONYM_MAX) = None  # type: ignore[valid-type]
    side: Side
    country: str = Field(pattern="^[A-Z]{2}$")
    region: optional(REGION_MAX) = None  # type: ignore[valid-type]
    type: OrgType
    # empty when the sources do not say
    sectors: list[bounded(SECTOR_MAX)] = Field(default_factory=list, max_length=LIST_MAX)  # type: ignore[valid-type]
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    facts: Facts = Field(default_factory=Facts)
    website: optional(WEBSITE_MAX) = None  # type: ignore[valid-type]
    contact: Contact | None = None
    sources: list[Source] = Field(default_factory=list, max_length=LIST_MAX)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            raise ValueError("must be a lowercase slug (letters, digits and single hyphens)")
        return value

    @model_validator(mode="after")
    def _cells_fit(self) -> "Organisation":
        check_json_cell("facts", self.facts.model_dump(mode="json", exclude_defaults=True))
        if self.contact is not None:
            check_json_cell("contact", self.contact.model_dump(mode="json", exclude_none=True))
        check_json_cell("sources", [s.model_dump(mode="json", exclude_none=True) for s in self.sources])
        return self

    @model_validator(mode="after")
    def _side_matches_country(self) -> "Organisation":
        if self.side is Side.MX and self.country != "MX":
            raise ValueError("a Mexican (MX) organisation must have country MX")
        if self.side is Side.EU and self.country == "MX":
            raise ValueError("a European (EU) organisation cannot have country MX")
        return self

    def all_names(self) -> list[str]:
        """Name, acronym and aliases, without duplicates, in that order."""
        names = [self.name] + ([self.acronym] if self.acronym else []) + self.aliases
        seen: set[str] = set()
        return [n for n in names if not (n in seen or seen.add(n))]


class Cooperation(Strict):
    """A documented EU–Mexico cooperation or contact between two organisations."""

    id: str = Field(max_length=200)
    eu: str = Field(min_length=1, max_length=ID_MAX)
    mx: str = Field(min_length=1, max_length=ID_MAX)
    type: CooperationType
    year: int | None = Field(default=None, ge=1990, le=2100)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    sources: list[Source] = Field(default_factory=list, max_length=LIST_MAX)
    confidence: Confidence = Confidence.HIGH
    tier: Tier = Tier.USER
    split: Split = Split.TRAIN

    @model_validator(mode="after")
    def _cells_fit(self) -> "Cooperation":
        check_json_cell("sources", [s.model_dump(mode="json", exclude_none=True) for s in self.sources])
        return self

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            raise ValueError("must be a lowercase slug (letters, digits and single hyphens)")
        return value

    @property
    def pair(self) -> tuple[str, str]:
        return (self.eu, self.mx)


class CooperationScope(str, Enum):
    """Where a cooperation beyond EU–Mexico reaches."""

    EU_LATAM = "eu-latam"  # a European party and a Latin American one (Mexico excepted)
    EU_EU = "eu-eu"  # two European parties
    EU_OTHER = "eu-other"  # a European party and one from elsewhere (Canada, Japan, ...)


class PartnerProfile(Strict):
    """An organisation outside the registry's two sides that is party to a wider cooperation."""

    id: str
    name: str = Field(min_length=2, max_length=300)
    aliases: list[str] = Field(default_factory=list)
    acronym: str | None = None
    country: str = Field(pattern="^[A-Z]{2}$")
    region: str | None = None
    type: OrgType
    sectors: list[str] = Field(default_factory=list)
    description: str = Field(default="", max_length=5000)
    facts: Facts = Field(default_factory=Facts)
    website: str | None = None
    sources: list[Source] = Field(min_length=1)


class WiderCooperation(Strict):
    """A documented cooperation of a European organisation beyond EU–Mexico, kept apart by scope
    so that the EU–Mexico suggestions and their evaluation stay EU–Mexico."""

    id: str
    eu: str
    partner: str  # a European organisation (scope eu-eu) or a PartnerProfile
    scope: CooperationScope
    type: CooperationType
    year: int | None = Field(default=None, ge=1990, le=2100)
    confidence: Confidence
    tier: Tier = Tier.WEB
    description: str = ""
    sources: list[Source] = Field(min_length=1)
