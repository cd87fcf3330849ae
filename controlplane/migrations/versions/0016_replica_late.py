"""replica_late: replicas that were late lately, so that no replica fails over their agents

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 20:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replica_late",
        sa.Column("replica", sa.String(length=128), nullable=False),
        sa.Column("late_utc", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("replica"),
    )
    op.create_index(op.f("ix_replica_late_late_utc"), "replica_late", ["late_utc"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_replica_late_late_utc"), table_name="replica_late")
    op.drop_table("replica_late")
