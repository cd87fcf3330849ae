"""Failover: agent and source sites, failover per source, agents declared down, record continuations

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:10:04.738609
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Server defaults so that rows written before this revision get a value; the models set it after.
    # Plain literals and an index only: anything else makes SQLite copy the table, and dropping the old
    # `source` would cascade to its group links.
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("site", sa.String(length=128), nullable=False, server_default="default")
        )
        batch_op.add_column(sa.Column("down_utc", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("up_since_utc", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("continues", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_record_continues"), ["continues"], unique=True)

    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("failover", sa.Boolean(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.drop_column("failover")
        batch_op.drop_column("site")

    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_continues"))
        batch_op.drop_column("continues")

    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.drop_column("up_since_utc")
        batch_op.drop_column("down_utc")
        batch_op.drop_column("site")
