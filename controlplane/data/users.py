"""Queries on users."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.db import insert_for
from controlplane.models import User


async def by_key_id(session: AsyncSession, key_id: str) -> User | None:
    return (await session.exec(select(User).where(col(User.key_id) == key_id))).first()


async def list_all(session: AsyncSession) -> Sequence[User]:
    return (await session.exec(select(User).order_by(col(User.name)))).all()


async def add(session: AsyncSession, row: User) -> bool:
    """False when the name is taken (two `user add` at once: the unique name decides)."""
    stmt = (
        insert_for(session)(User)
        .values(**row.model_dump())
        .on_conflict_do_nothing()
        .returning(col(User.name))
    )
    # RETURNING, not rowcount: psycopg's async cursor reports -1 for an INSERT ... ON CONFLICT.
    return (await session.exec(stmt)).first() is not None  # type: ignore[call-overload]


async def remove(session: AsyncSession, name: str) -> bool:
    result = await session.exec(delete(User).where(col(User.name) == name))  # type: ignore[call-overload]
    return bool(result.rowcount == 1)
