"""source.assign_v: the assignment version of each source's last change, for heartbeat deltas

The assignment triggers are dropped here and created again by list_versions.install (after every
upgrade) in their new form, which also stamps the changed row.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 20:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _drop_assignment_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('DROP TRIGGER IF EXISTS "list_version_assignment_source" ON "source"')
    else:
        for what in ("insert", "update", "delete"):
            op.execute(f'DROP TRIGGER IF EXISTS "list_version_assignment_source_{what}"')


def upgrade() -> None:
    _drop_assignment_triggers()
    with op.batch_alter_table("source") as batch_op:
        batch_op.add_column(sa.Column("assign_v", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    _drop_assignment_triggers()
    with op.batch_alter_table("source") as batch_op:
        batch_op.drop_column("assign_v")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS list_version_assignment_bump()")
