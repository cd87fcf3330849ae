"""Queries on tags."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.db import insert_for, utcnow, won
from controlplane.models import Record, Tag
from shared.enums import ACTIVE_RECORD_STATUSES


async def by_name(session: AsyncSession, name: str) -> Tag | None:
    return (await session.exec(select(Tag).where(Tag.name == name))).first()


async def get_or_create(session: AsyncSession, name: str) -> Tag:
    tag = await by_name(session, name)
    if tag is not None:
        return tag
    # Two requests may create the same tag at once: the unique name decides, and the one that loses
    # reads the winner's row instead of failing.
    insert = insert_for(session)
    stmt = insert(Tag).values(name=name, created_utc=utcnow(), start_seq=0).on_conflict_do_nothing()
    await session.exec(stmt)  # type: ignore[call-overload]
    tag = await by_name(session, name)
    assert tag is not None
    return tag


async def claim_start(session: AsyncSession, tag: Tag) -> bool:
    """Take the right to start `tag` as last read: False when another start got there first."""
    assert tag.id is not None
    stmt = (
        update(Tag)
        .where(col(Tag.id) == tag.id, col(Tag.start_seq) == tag.start_seq)
        .values(start_seq=tag.start_seq + 1)
        .execution_options(synchronize_session=False)
    )
    return await won(session, stmt)


async def bump(session: AsyncSession, tag_id: int) -> None:
    """Take the tag's row before changing which of its records run (a stop): a failover that read the
    tag before must lose its `claim_start`, and one after it sees the stop's records (and when the
    tag was stopped: a failed continuation from before is not tried again)."""
    stmt = (
        update(Tag)
        .where(col(Tag.id) == tag_id)
        .values(start_seq=col(Tag.start_seq) + 1, stopped_utc=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.exec(stmt)  # type: ignore[call-overload]


async def names_recording(session: AsyncSession) -> Sequence[str]:
    """Tags that have a record pending, recording or being stopped."""
    stmt = (
        select(Tag.name)
        .join(Record, col(Record.tag_id) == col(Tag.id))
        .where(col(Record.status).in_(list(ACTIVE_RECORD_STATUSES)))
        .distinct()
        .order_by(col(Tag.name))
    )
    return (await session.exec(stmt)).all()


async def by_id(session: AsyncSession, tag_id: int) -> Tag:
    tag = await session.get(Tag, tag_id)
    assert tag is not None, "a record always has its tag"
    return tag


async def newest(session: AsyncSession, limit: int, offset: int = 0) -> Sequence[Tag]:
    stmt = select(Tag).order_by(col(Tag.created_utc).desc(), col(Tag.id).desc()).offset(offset).limit(limit)
    return (await session.exec(stmt)).all()


async def protected_names(session: AsyncSession) -> list[str]:
    return list((await session.exec(select(Tag.name).where(col(Tag.protected).is_(True)))).all())
