"""Queries on records."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.errors import NotFoundError
from controlplane.models import Record, Source
from shared.enums import ACTIVE_RECORD_STATUSES, RecordStatus

_ACTIVE = list(ACTIVE_RECORD_STATUSES)


async def of_tag(
    session: AsyncSession, tag_id: int, model: str | None = None, offset: int = 0, limit: int | None = None
) -> Sequence[Record]:
    stmt = select(Record).where(Record.tag_id == tag_id)
    if model is not None:
        stmt = stmt.join(Source, col(Source.id) == col(Record.source_id)).where(Source.model == model)
    stmt = stmt.order_by(col(Record.created_utc), col(Record.id)).offset(offset).limit(limit)
    return (await session.exec(stmt)).all()


async def get(session: AsyncSession, record_id: str) -> Record:
    row = await session.get(Record, record_id)
    if row is None:
        raise NotFoundError("record", record_id)
    return row


async def by_ids(session: AsyncSession, ids: set[str]) -> dict[str, Record]:
    if not ids:
        return {}
    rows = (await session.exec(select(Record).where(col(Record.id).in_(ids)))).all()
    return {row.id: row for row in rows}


async def active_of_source(session: AsyncSession, source_id: int) -> Sequence[Record]:
    stmt = select(Record).where(Record.source_id == source_id, col(Record.status).in_(_ACTIVE))
    return (await session.exec(stmt)).all()


async def active_of_tag(session: AsyncSession, tag_id: int) -> Sequence[Record]:
    stmt = select(Record).where(Record.tag_id == tag_id, col(Record.status).in_(_ACTIVE))
    return (await session.exec(stmt)).all()


async def stopping_on_agent(session: AsyncSession, agent_name: str) -> Sequence[Record]:
    stmt = select(Record).where(Record.agent_name == agent_name, Record.status == RecordStatus.STOPPING)
    return (await session.exec(stmt)).all()


async def add(session: AsyncSession, row: Record) -> Record:
    session.add(row)
    await session.flush()
    return row


async def add_all(session: AsyncSession, rows: list[Record]) -> list[Record]:
    session.add_all(rows)
    await session.flush()
    return rows


async def active_on_agent(session: AsyncSession, agent_name: str) -> Sequence[Record]:
    stmt = select(Record).where(Record.agent_name == agent_name, col(Record.status).in_(_ACTIVE))
    return (await session.exec(stmt)).all()


async def recording_on_agent(session: AsyncSession, agent_name: str) -> Sequence[Record]:
    stmt = select(Record).where(Record.agent_name == agent_name, Record.status == RecordStatus.RECORDING)
    return (await session.exec(stmt.order_by(col(Record.created_utc)))).all()


async def hand_over(session: AsyncSession, record_id: str) -> bool:
    """`recording` → `stopping` for a record whose agent was declared down: its continuation takes
    over, and its agent is told to stop when it is heard again. False when it was no longer recording."""
    stmt = (
        update(Record)
        .where(col(Record.id) == record_id, col(Record.status) == RecordStatus.RECORDING)
        .values(status=RecordStatus.STOPPING)
        .execution_options(synchronize_session=False)
    )
    result = await session.exec(stmt)  # type: ignore[call-overload]
    return bool(result.rowcount == 1)
