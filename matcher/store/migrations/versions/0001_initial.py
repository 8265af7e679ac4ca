"""Initial schema: organisations, names, sectors, cooperations, feedback, API keys, meta.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("acronym", sa.String(), nullable=True),
        sa.Column("side", sa.String(2), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("website", sa.String(), nullable=True),
        sa.Column("facts", JSONType, nullable=False),
        sa.Column("contact", JSONType, nullable=True),
        sa.Column("sources", JSONType, nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("side IN ('EU', 'MX')", name=op.f("ck_organisations_side")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
    )
    op.create_index(op.f("ix_organisations_side"), "organisations", ["side"])
    op.create_index(op.f("ix_organisations_country"), "organisations", ["country"])
    op.create_index(op.f("ix_organisations_type"), "organisations", ["type"])

    op.create_table(
        "aliases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(), nullable=False),
        sa.Column("normalised", sa.String(), nullable=False),
        sa.CheckConstraint("kind IN ('name', 'acronym', 'alias')", name=op.f("ck_aliases_kind")),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_aliases_org_id_organisations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aliases")),
    )
    op.create_index(op.f("ix_aliases_org_id"), "aliases", ["org_id"])
    op.create_index(op.f("ix_aliases_normalised"), "aliases", ["normalised"])

    op.create_table(
        "sectors",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("name_es", sa.String(), nullable=False),
        sa.Column("parent_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sectors")),
    )

    op.create_table(
        "organisation_sectors",
        sa.Column("org_id", sa.String(), nullable=False),
        sa.Column("sector_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_sectors_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sector_id"], ["sectors.id"], name=op.f("fk_organisation_sectors_sector_id_sectors")
        ),
        sa.PrimaryKeyConstraint("org_id", "sector_id", name=op.f("pk_organisation_sectors")),
    )
    op.create_index(op.f("ix_organisation_sectors_sector_id"), "organisation_sectors", ["sector_id"])

    op.create_table(
        "cooperations",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("eu_id", sa.String(), nullable=False),
        sa.Column("mx_id", sa.String(), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("sources", JSONType, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["eu_id"], ["organisations.id"], name=op.f("fk_cooperations_eu_id_organisations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["mx_id"], ["organisations.id"], name=op.f("fk_cooperations_mx_id_organisations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cooperations")),
    )
    op.create_index(op.f("ix_cooperations_eu_id"), "cooperations", ["eu_id"])
    op.create_index(op.f("ix_cooperations_mx_id"), "cooperations", ["mx_id"])
    op.create_index(op.f("ix_cooperations_type"), "cooperations", ["type"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("scope", sa.String(50), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.String(), nullable=False),
        sa.Column("suggested_id", sa.String(), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("api_key_id", sa.String(32), nullable=True),
        sa.CheckConstraint(
            "verdict IN ('accepted', 'declined', 'met', 'agreement_signed')", name=op.f("ck_feedback_verdict")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["organisations.id"], name=op.f("fk_feedback_subject_id_organisations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["suggested_id"],
            ["organisations.id"],
            name=op.f("fk_feedback_suggested_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_feedback_api_key_id_api_keys"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    op.create_index(op.f("ix_feedback_subject_id"), "feedback", ["subject_id"])
    op.create_index(op.f("ix_feedback_suggested_id"), "feedback", ["suggested_id"])

    meta = op.create_table(
        "meta",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.String(36), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("seeded_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meta")),
    )
    op.bulk_insert(meta, [{"id": 1, "store_id": str(uuid.uuid4()), "version": 0, "seeded_at": None}])


def downgrade() -> None:
    for table in ("meta", "feedback", "api_keys", "cooperations", "organisation_sectors", "sectors", "aliases", "organisations"):
        op.drop_table(table)
