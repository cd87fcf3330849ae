"""list_version: versions of the tables that lists pollers re-read show (their ETags)

The triggers that bump it are installed by controlplane.schema after every upgrade
(controlplane.data.list_versions.install): SQLite's batch migrations drop a copied table's triggers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 17:37:32.648930
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "list_version",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    # The triggers write into the table: they go first (names as list_versions.install gives them).
    postgres = op.get_bind().dialect.name == "postgresql"
    # (version, table): the later "assignment" version counts source rows too.
    for version, table in (("source", "source"), ("group", "group"), ("tag", "tag"), ("record", "record"),
                           ("assignment", "source")):  # fmt: skip
        if postgres:
            op.execute(f'DROP TRIGGER IF EXISTS "list_version_{version}_{table}" ON "{table}"')
        else:
            for what in ("insert", "update", "delete"):
                op.execute(f'DROP TRIGGER IF EXISTS "list_version_{version}_{table}_{what}"')
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS list_version_bump()")
    op.drop_table("list_version")
