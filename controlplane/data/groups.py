"""Queries on groups and their memberships."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.errors import NotFoundError
from controlplane.models import Group, GroupSourceLink


async def list_all(session: AsyncSession, offset: int = 0, limit: int | None = None) -> Sequence[Group]:
    return (await session.exec(select(Group).order_by(col(Group.id)).offset(offset).limit(limit))).all()


async def get(session: AsyncSession, group_id: int) -> Group:
    row = await session.get(Group, group_id)
    if row is None:
        raise NotFoundError("group", group_id)
    return row


async def by_name(session: AsyncSession, name: str) -> Group | None:
    return (await session.exec(select(Group).where(Group.name == name))).first()


async def add(session: AsyncSession, row: Group) -> Group:
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def delete_group(session: AsyncSession, row: Group) -> None:
    # Explicit, so memberships go even where the database does not enforce ON DELETE CASCADE.
    await session.exec(delete(GroupSourceLink).where(col(GroupSourceLink.group_id) == row.id))
    await session.delete(row)
    await session.flush()


async def has_member(session: AsyncSession, group_id: int, source_id: int) -> bool:
    return await session.get(GroupSourceLink, (group_id, source_id)) is not None


async def add_member(session: AsyncSession, group_id: int, source_id: int) -> None:
    session.add(GroupSourceLink(group_id=group_id, source_id=source_id))
    await session.flush()


async def remove_member(session: AsyncSession, group_id: int, source_id: int) -> bool:
    link = await session.get(GroupSourceLink, (group_id, source_id))
    if link is None:
        return False
    await session.delete(link)
    await session.flush()
    return True


async def remove_source_everywhere(session: AsyncSession, source_id: int) -> None:
    await session.exec(delete(GroupSourceLink).where(col(GroupSourceLink.source_id) == source_id))
    await session.flush()
