"""agent.disk_reserve_bytes, agent.paused_records: an agent's free-space reserve and its paused records

Revision ID: 4dc93c167741
Revises: 0005
Create Date: 2026-12-01 15:26:05.031023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "4dc93c167741"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disk_reserve_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("paused_records", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.drop_column("paused_records")
        batch_op.drop_column("disk_reserve_bytes")
