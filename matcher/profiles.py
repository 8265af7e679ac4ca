"""The registry's records: organisations, cooperations and their parts, verdicts on suggestions
and API keys.

These pydantic models are the schema of the shipped dataset, of imports and of the API
bodies built on top of them. Validation errors name the offending field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
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


def nul_path(value: Any, path: str = "") -> str | None:
    """Where in a raw value (JSON-like) a string holds a NUL character; ``None`` if nowhere."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return f"{path}.{key!r}" if path else repr(key)
        found = nul_path(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


class NoNul(BaseModel):
    """Refuses NUL characters anywhere in its input: no text needs one, PostgreSQL cannot store
    one, and a spreadsheet cell cannot hold one."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        where = nul_path(data)
        if where:
            raise PydanticCustomError("nul_character", "text must not contain NUL characters", {"field": where})
        return data


def error_field(error: Any) -> str | None:
    """The field a pydantic error is about: its location, or the field a model-wide check named."""
    where = ".".join(str(p) for p in error.get("loc", ()))
    return where or (error.get("ctx") or {}).get("field")


class Strict(NoNul):
    """Base model: unknown fields are errors, strings are stripped, NUL characters refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Source(Strict):
    """Where a record's facts come from.

    ``document`` is a source file of the seed set or the address of a public page; ``section``
    the section, table or page title. Web sources also name their ``publisher`` and ``date``
    (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``).
    """

    document: str = Field(min_length=1, max_length=2000)
    section: str = Field(min_length=1, max_length=1000)
    publisher: str | None = Field(default=None, max_length=300)
    date: str | None = Field(default=None, pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")

    def __str__(self) -> str:
        where = f"{self.document}, {self.section}"
        extra = ", ".join(p for p in (self.publisher, self.date) if p)
        return f"{where} ({extra})" if extra else where


class Label(Strict):
    """A cluster-management quality label (ESCA / ECEI)."""

    level: str = Field(pattern="^(gold|silver|bronze)$")
    sector: str | None = None
    valid_until: dt.date | None = None


class Contact(Strict):
    """A contact person; shown only to keyed API callers."""

    name: str
    role: str | None = None
    email: str | None = None
    phone: str | None = None


class Facts(Strict):
    """Known facts about an organisation; every field is optional."""

    #: Bounded so that every count converts to a float: an unbounded integer once made every
    #: suggestion fail for everyone until the profile was deleted.
    members: int | None = Field(default=None, ge=0, le=10_000_000)
    members_note: str | None = None
    founded: int | None = Field(default=None, ge=1800, le=2100)
    label: Label | None = None
    eccp_member: bool = False
    member_of: list[str] = Field(default_factory=list)
    escp4i: list[str] = Field(default_factory=list)
    mexico_interest: list[str] = Field(default_factory=list)
    committees: list[str] = Field(default_factory=list)
    specialities: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class Organisation(Strict):
    """A cluster organisation or another party to cluster cooperation."""

    id: str
    name: str = Field(min_length=2, max_length=300)
    aliases: list[str] = Field(default_factory=list)
    acronym: str | None = None
    side: Side
    country: str = Field(pattern="^[A-Z]{2}$")
    region: str | None = None
    type: OrgType
    sectors: list[str] = Field(default_factory=list)  # empty when the sources do not say
    description: str = Field(default="", max_length=5000)
    facts: Facts = Field(default_factory=Facts)
    website: str | None = None
    contact: Contact | None = None
    sources: list[Source] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            raise ValueError("must be a lowercase slug (letters, digits and single hyphens)")
        return value

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

    id: str
    eu: str
    mx: str
    type: CooperationType
    year: int | None = Field(default=None, ge=1990, le=2100)
    description: str = ""
    sources: list[Source] = Field(default_factory=list)
    confidence: Confidence = Confidence.HIGH
    tier: Tier = Tier.USER
    split: Split = Split.TRAIN

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
