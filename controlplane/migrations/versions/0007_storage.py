"""storage: agent.disk_reserve_bytes and agent.paused_records (its free-space reserve, its paused
records), tag.protected (retention never deletes its records)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 15:29:49.640866
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disk_reserve_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("paused_records", sa.Integer(), nullable=False, server_default="0"))

    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.add_column(sa.Column("protected", sa.Boolean(), server_default="false", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.drop_column("protected")

    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.drop_column("paused_records")
        batch_op.drop_column("disk_reserve_bytes")
