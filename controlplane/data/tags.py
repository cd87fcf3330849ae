"""Queries on tags."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.models import Record, Tag
from shared.enums import ACTIVE_RECORD_STATUSES


async def by_name(session: AsyncSession, name: str) -> Tag | None:
    return (await session.exec(select(Tag).where(Tag.name == name))).first()


async def get_or_create(session: AsyncSession, name: str) -> Tag:
    tag = await by_name(session, name)
    if tag is None:
        tag = Tag(name=name)
        session.add(tag)
        await session.flush()
        await session.refresh(tag)
    return tag


async def names_recording(session: AsyncSession) -> Sequence[str]:
    """Tags that have a record pending, recording or being stopped."""
    stmt = (
        select(Tag.name)
        .join(Record, col(Record.tag_id) == col(Tag.id))
        .where(col(Record.status).in_([s.value for s in ACTIVE_RECORD_STATUSES]))
        .distinct()
        .order_by(col(Tag.name))
    )
    return (await session.exec(stmt)).all()


async def by_id(session: AsyncSession, tag_id: int) -> Tag:
    tag = await session.get(Tag, tag_id)
    assert tag is not None, "a record always has its tag"
    return tag
