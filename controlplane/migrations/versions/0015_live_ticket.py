"""live_ticket: the live WebSocket's tickets, shared by every replica (one use wherever redeemed)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 18:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_ticket",
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("ticket_hash"),
    )
    op.create_index(op.f("ix_live_ticket_expires_utc"), "live_ticket", ["expires_utc"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_live_ticket_expires_utc"), table_name="live_ticket")
    op.drop_table("live_ticket")
