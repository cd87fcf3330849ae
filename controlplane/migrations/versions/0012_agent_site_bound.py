"""agent.site_bound (its site is the one its token names, not one it reported)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing agents hold vra1 tokens: false, so their site stays the one they reported first.
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site_bound", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.drop_column("site_bound")
