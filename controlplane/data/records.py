"""Queries on records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, func, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.db import insert_for, won
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


async def agents_with_stops(session: AsyncSession) -> set[str]:
    """Agents holding a record the control plane wants stopped (their heartbeats are told)."""
    stmt = select(Record.agent_name).where(Record.status == RecordStatus.STOPPING).distinct()
    return {name for name in (await session.exec(stmt)).all() if name}


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
    return await won(session, stmt)


async def failed_continuations(session: AsyncSession, since: datetime) -> Sequence[Record]:
    """Continuations created since `since` that failed and that nothing continues yet."""
    later = aliased(Record)
    stmt = select(Record).where(
        col(Record.continues).is_not(None),
        Record.status == RecordStatus.FAILED,
        col(Record.created_utc) >= since,
        ~exists().where(col(later.continues) == col(Record.id)),
    )
    return (await session.exec(stmt.order_by(col(Record.created_utc)))).all()


async def missing_second_copies(session: AsyncSession) -> Sequence[Record]:
    """Second copies of dual-recorded sources that found no agent at their tag's start (failed, never
    placed) while the first copy of the same tag records on, and that nothing continues yet."""
    later, first = aliased(Record), aliased(Record)
    stmt = (
        select(Record)
        .join(Source, col(Source.id) == col(Record.source_id))
        .where(
            Record.status == RecordStatus.FAILED,
            col(Record.agent_name).is_(None),
            col(Record.continues).is_(None),
            col(Source.redundancy) >= 2,
            ~exists().where(col(later.continues) == col(Record.id)),
            exists().where(
                col(first.tag_id) == col(Record.tag_id),
                col(first.source_id) == col(Record.source_id),
                col(first.id) != col(Record.id),
                col(first.status) == RecordStatus.RECORDING,
            ),
        )
    )
    return (await session.exec(stmt.order_by(col(Record.created_utc)))).all()


async def add_continuation(session: AsyncSession, row: Record) -> bool:
    """Insert a continuation unless another replica continued the same record first (`continues` is
    unique); False then."""
    insert = insert_for(session)
    values = {c.name: getattr(row, c.name) for c in Record.__table__.columns}  # type: ignore[attr-defined]
    stmt = insert(Record).values(**values).on_conflict_do_nothing().returning(Record.id)  # type: ignore[attr-defined]
    # RETURNING, not rowcount: what the drivers count for an INSERT that gave way differs.
    return (await session.exec(stmt)).first() is not None  # type: ignore[call-overload]


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    """How many records have each status (a status no record has is absent)."""
    by_status = select(Record.status, func.count()).group_by(col(Record.status))
    return {str(status): count for status, count in (await session.exec(by_status)).all()}
