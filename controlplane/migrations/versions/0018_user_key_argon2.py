"""user.key_hash holds an Argon2id hash (about 100 characters), not only a SHA-256 (64)

Rows written before keep their SHA-256 and keep working (auth.keys). Going back down, the users whose
keys an older release cannot check (Argon2) are removed: their keys would not work there anyway, and
the column is narrowed again.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 03:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user") as batch_op:
        batch_op.alter_column(
            "key_hash",
            existing_type=sa.String(length=64),
            type_=sa.String(length=128),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.execute('DELETE FROM "user" WHERE length(key_hash) > 64')
    with op.batch_alter_table("user") as batch_op:
        batch_op.alter_column(
            "key_hash",
            existing_type=sa.String(length=128),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
