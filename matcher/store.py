"""Relational storage of the registry: SQLAlchemy tables, engines and transactions.

The embedded default is a SQLite file under ``C2C_HOME`` (WAL journal, foreign keys on,
writers serialised with ``BEGIN IMMEDIATE``); any SQLAlchemy URL such as
``postgresql+psycopg://@127.0.0.1:5432/test`` selects another server. The schema itself is
created by the Alembic migrations in :mod:`matcher.migrations`, which mirror these classes.

Only :mod:`matcher.registry` talks to this module; it converts rows to and from the pydantic
records of :mod:`matcher.profiles`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    create_engine,
    event,
    delete,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from matcher.profiles import Cooperation, Organisation
from matcher.text import normalise

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

VERDICTS = ("accepted", "declined", "met", "agreement_signed")

#: JSON on every backend, JSONB on PostgreSQL; Python ``None`` is stored as SQL NULL.
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OrganisationRow(Base):
    """One organisation; lists live in ``aliases`` and ``organisation_sectors``."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    acronym: Mapped[str | None] = mapped_column(String, nullable=True)
    side: Mapped[str] = mapped_column(String(2), index=True)
    country: Mapped[str] = mapped_column(String(2), index=True)
    region: Mapped[str | None] = mapped_column(String, nullable=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str | None] = mapped_column(String, nullable=True)
    facts: Mapped[dict[str, Any]] = mapped_column(JSONType)
    contact: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    search_text: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint("side IN ('EU', 'MX')", name="side"),)


class NameRow(Base):
    """Every name an organisation answers to: its name, acronym and aliases (for lookup)."""

    __tablename__ = "aliases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer, default=0)
    alias: Mapped[str] = mapped_column(String)
    normalised: Mapped[str] = mapped_column(String, index=True)

    __table_args__ = (CheckConstraint("kind IN ('name', 'acronym', 'alias')", name="kind"),)


class SectorRow(Base):
    """One sector of the shipped taxonomy (kept in step by ``Registry.init``)."""

    __tablename__ = "sectors"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    name_es: Mapped[str] = mapped_column(String)
    parent_id: Mapped[str | None] = mapped_column(String, nullable=True)


class OrganisationSectorRow(Base):
    __tablename__ = "organisation_sectors"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    sector_id: Mapped[str] = mapped_column(ForeignKey("sectors.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class CooperationRow(Base):
    __tablename__ = "cooperations"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    eu_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    mx_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    confidence: Mapped[str] = mapped_column(String(10), default="high")
    tier: Mapped[str] = mapped_column(String(10), default="user")
    split: Mapped[str] = mapped_column(String(10), default="train", index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String)
    scope: Mapped[str] = mapped_column(String(50))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FeedbackRow(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    suggested_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    verdict: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    api_key_id: Mapped[str | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
    )

    __table_args__ = (
        CheckConstraint("verdict IN ('accepted', 'declined', 'met', 'agreement_signed')", name="verdict"),
    )


class MetaRow(Base):
    """A single row: the store's identity, its data version counter and when it was seeded."""

    __tablename__ = "meta"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    seeded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# --- rows <-> records ---------------------------------------------------------------------------


def content_hash(record: Organisation | Cooperation) -> str:
    """A digest of a record's full content; equal digests mean an upsert has nothing to do."""
    text = json.dumps(record.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def organisation_values(org: Organisation) -> dict[str, Any]:
    """Column values of an organisation row (timestamps excepted)."""
    names = [org.name, org.acronym or "", *org.aliases, org.region or "", org.description]
    return {
        "id": org.id,
        "name": org.name,
        "acronym": org.acronym,
        "side": org.side.value,
        "country": org.country,
        "region": org.region,
        "type": org.type.value,
        "description": org.description,
        "website": org.website,
        "facts": org.facts.model_dump(mode="json", exclude_defaults=True),
        "contact": org.contact.model_dump(mode="json") if org.contact else None,
        "sources": [s.model_dump(mode="json", exclude_none=True) for s in org.sources],
        "search_text": normalise(" ".join(names)),
        "content_hash": content_hash(org),
    }


def organisation_children(org: Organisation) -> list[Base]:
    """Name and sector rows of an organisation."""
    names: list[tuple[str, int, str]] = [("name", 0, org.name)]
    if org.acronym:
        names.append(("acronym", 0, org.acronym))
    names.extend(("alias", i, alias) for i, alias in enumerate(org.aliases))
    rows: list[Base] = [
        NameRow(org_id=org.id, kind=kind, position=pos, alias=text, normalised=normalise(text))
        for kind, pos, text in names
    ]
    rows.extend(OrganisationSectorRow(org_id=org.id, sector_id=s, position=i) for i, s in enumerate(org.sectors))
    return rows


def organisation_from_rows(row: Any, names: list[Any], sectors: list[Any]) -> Organisation:
    """Rebuild a record from its organisation row and its name and sector rows (ORM objects or
    plain result rows with the same attribute names)."""
    aliases = sorted((n for n in names if n.kind == "alias"), key=lambda n: n.position)
    return Organisation.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "aliases": [a.alias for a in aliases],
            "acronym": row.acronym,
            "side": row.side,
            "country": row.country,
            "region": row.region,
            "type": row.type,
            "sectors": [s.sector_id for s in sorted(sectors, key=lambda s: s.position)],
            "description": row.description,
            "facts": row.facts or {},
            "website": row.website,
            "contact": row.contact,
            "sources": row.sources or [],
        }
    )


def load_organisations(session: Session, rows: list[Any], everything: bool = False) -> list[Organisation]:
    """Records for organisation ``rows`` (names and sectors fetched in bulk as plain rows, which
    is several times faster than ORM objects; ``everything`` skips the id filter)."""
    ids = [r.id for r in rows]
    names: dict[str, list[Any]] = {i: [] for i in ids}
    sectors: dict[str, list[Any]] = {i: [] for i in ids}
    chunks: list[list[str] | None] = [None] if everything else [ids[i : i + 500] for i in range(0, len(ids), 500)]
    for chunk in chunks:
        name_q = select(NameRow.org_id, NameRow.kind, NameRow.position, NameRow.alias)
        sector_q = select(OrganisationSectorRow.org_id, OrganisationSectorRow.sector_id, OrganisationSectorRow.position)
        if chunk is not None:
            name_q = name_q.where(NameRow.org_id.in_(chunk))
            sector_q = sector_q.where(OrganisationSectorRow.org_id.in_(chunk))
        for n in session.execute(name_q):
            names.setdefault(n.org_id, []).append(n)
        for sec in session.execute(sector_q):
            sectors.setdefault(sec.org_id, []).append(sec)
    return [organisation_from_rows(r, names[r.id], sectors[r.id]) for r in rows]


def insert_organisations(session: Session, orgs: list[Organisation], now: dt.datetime) -> None:
    session.add_all(OrganisationRow(**organisation_values(o), created_at=now, updated_at=now) for o in orgs)
    session.flush()
    session.add_all(child for o in orgs for child in organisation_children(o))
    session.flush()


def replace_organisation(session: Session, row: OrganisationRow, org: Organisation, now: dt.datetime) -> None:
    """Overwrite a stored organisation with ``org`` (same id), keeping ``created_at``."""
    for key, value in organisation_values(org).items():
        setattr(row, key, value)
    row.updated_at = now
    session.execute(delete(NameRow).where(NameRow.org_id == org.id))
    session.execute(delete(OrganisationSectorRow).where(OrganisationSectorRow.org_id == org.id))
    session.add_all(organisation_children(org))
    session.flush()


def cooperation_values(coop: Cooperation) -> dict[str, Any]:
    return {
        "id": coop.id,
        "eu_id": coop.eu,
        "mx_id": coop.mx,
        "type": coop.type.value,
        "year": coop.year,
        "description": coop.description,
        "sources": [s.model_dump(mode="json", exclude_none=True) for s in coop.sources],
        "confidence": coop.confidence.value,
        "tier": coop.tier.value,
        "split": coop.split.value,
        "content_hash": content_hash(coop),
    }


def cooperation_from_row(row: CooperationRow) -> Cooperation:
    return Cooperation.model_validate(
        {
            "id": row.id,
            "eu": row.eu_id,
            "mx": row.mx_id,
            "type": row.type,
            "year": row.year,
            "description": row.description,
            "sources": row.sources or [],
            "confidence": row.confidence or "high",
            "tier": row.tier or "user",
            "split": row.split or "train",
        }
    )


# --- engines --------------------------------------------------------------------------------------


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite connections get WAL, foreign keys and explicit BEGINs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so reads are transactional too.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash loses at most the last commit
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        writing = connection.get_execution_options().get("c2c_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


class Store:
    """An engine pair (readers and writers) with transaction helpers."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.write_engine = self.engine.execution_options(c2c_write=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; nothing it does is committed."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work is committed as one transaction, or rolled back entirely."""
        with Session(self.write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    def bump_version(self, session: Session) -> None:
        """Advance the data version counter inside the caller's transaction."""
        session.execute(update(MetaRow).where(MetaRow.id == 1).values(version=MetaRow.version + 1))

    def dispose(self) -> None:
        self.engine.dispose()
