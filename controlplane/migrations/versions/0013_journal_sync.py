"""journal_sync (how far each agent's journal has been read) and record.recovered_utc

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 17:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_sync",
        sa.Column("agent_name", sa.String(length=128), nullable=False),
        sa.Column("synced_unix", sa.Float(), nullable=False, server_default="0"),
        sa.Column("synced_record_id", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("claimed_utc", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("agent_name"),
    )
    # A nullable column and nothing else: SQLite adds it without copying the table.
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recovered_utc", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.drop_column("recovered_utc")
    op.drop_table("journal_sync")
