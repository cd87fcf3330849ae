"""Dual recording: source.redundancy and source.second_agent_name; tag.stopped_utc (failover retries)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 17:34:54.717475
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A server default so that existing sources read 1 (a plain literal: SQLite adds the column in
    # place instead of copying the table).
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redundancy", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("second_agent_name", sa.String(length=128), nullable=True))
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stopped_utc", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.drop_column("stopped_utc")
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.drop_column("second_agent_name")
        batch_op.drop_column("redundancy")
