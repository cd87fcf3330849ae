"""Queries on sources."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.errors import NotFoundError
from controlplane.models import GroupSourceLink, Source


async def list_all(session: AsyncSession) -> Sequence[Source]:
    return (await session.exec(select(Source).order_by(col(Source.id)))).all()


async def get(session: AsyncSession, source_id: int) -> Source:
    row = await session.get(Source, source_id)
    if row is None:
        raise NotFoundError("source", source_id)
    return row


async def add(session: AsyncSession, row: Source) -> Source:
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def delete(session: AsyncSession, row: Source) -> None:
    await session.delete(row)
    await session.flush()


async def of_group(session: AsyncSession, group_id: int) -> Sequence[Source]:
    stmt = (
        select(Source)
        .join(GroupSourceLink, col(GroupSourceLink.source_id) == col(Source.id))
        .where(GroupSourceLink.group_id == group_id)
        .order_by(col(Source.id))
    )
    return (await session.exec(stmt)).all()


async def by_ids(session: AsyncSession, ids: set[int]) -> dict[int, Source]:
    if not ids:
        return {}
    rows = (await session.exec(select(Source).where(col(Source.id).in_(ids)))).all()
    return {row.id: row for row in rows if row.id is not None}
