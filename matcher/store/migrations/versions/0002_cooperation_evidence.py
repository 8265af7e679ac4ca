"""Cooperation evidence: confidence, tier (seed, web, user) and evaluation split (train, test).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cooperations") as batch:
        batch.add_column(sa.Column("confidence", sa.String(10), nullable=False, server_default="high"))
        batch.add_column(sa.Column("tier", sa.String(10), nullable=False, server_default="user"))
        batch.add_column(sa.Column("split", sa.String(10), nullable=False, server_default="train"))
        batch.create_index("ix_cooperations_split", ["split"])


def downgrade() -> None:
    with op.batch_alter_table("cooperations") as batch:
        batch.drop_index("ix_cooperations_split")
        batch.drop_column("split")
        batch.drop_column("tier")
        batch.drop_column("confidence")
