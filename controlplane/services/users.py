"""Users and their keys: added with a new key (shown once), listed, removed. Each change is written
to the audit trail in the same transaction."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.auth import keys
from controlplane.auth.roles import Role
from controlplane.data import users as users_data
from controlplane.errors import ConflictError, NotFoundError, invalid
from controlplane.models import User
from controlplane.services import audit

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


async def add(session: AsyncSession, name: str, role: Role) -> str:
    """The new user's key: the only time it exists in clear."""
    if not NAME.match(name):
        raise invalid(
            ("name",), "a user name is 1-64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit"
        )
    key = keys.new_key()
    if not await users_data.add(
        session, User(name=name, role=role, key_id=key.key_id, key_hash=key.key_hash)
    ):
        raise ConflictError(f"user {name} exists (remove it first to give it a new key)")
    await audit.record_command(session, "add_user", f"user:{name}", f"role {role.value}")
    return key.key


async def remove(session: AsyncSession, name: str) -> None:
    if not await users_data.remove(session, name):
        raise NotFoundError("user", name)
    await audit.record_command(session, "remove_user", f"user:{name}")


async def list_all(session: AsyncSession) -> Sequence[User]:
    return await users_data.list_all(session)
