"""The registry's SQL tables as SQLAlchemy classes.

The schema itself is created by the Alembic migrations in :mod:`matcher.store.migrations`,
which mirror these classes; :mod:`matcher.store.records` converts rows to and from the
pydantic records of :mod:`matcher.profiles`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, DateTime, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from matcher.profiles import Verdict


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

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
    """One sector of the shipped taxonomy (kept in step by :func:`matcher.store.setup.sync_taxonomy`)."""

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
        CheckConstraint(f"verdict IN ({', '.join(repr(v.value) for v in Verdict)})", name="verdict"),
    )


class MetaRow(Base):
    """A single row: the store's identity, its data version counter and when it was seeded."""

    __tablename__ = "meta"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    seeded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EventRow(Base):
    """A B2B event (its record as JSON) and its latest plan, shared by every server of a store."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    record: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    plan: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ModelRow(Base):
    """A fitted model (the partner ranker) as JSON, with a version every server can watch."""

    __tablename__ = "models"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
