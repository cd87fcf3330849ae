"""agent.http_address (its HTTP port, where signed file URLs point)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 16:00:25.777049
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("http_address", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.drop_column("http_address")
