"""Queries of the journal reconciliation: each agent's mark, and rows put back only when absent.

Replicas may read the same journal at once (a stale claim, a restart): every insert gives way to a row
already there (the record's id, the tag's name, the source's id), so the database settles the race."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.db import insert_for, won
from controlplane.models import Agent, JournalSync, Record, Source


async def due(session: AsyncSession, seen_since: datetime, stale_before: datetime) -> Sequence[Agent]:
    """Agents heard since `seen_since` whose journal no replica has read since `stale_before`: one
    query, so that looking often costs little however many agents there are."""
    stmt = (
        select(Agent)
        .outerjoin(JournalSync, col(JournalSync.agent_name) == col(Agent.name))
        .where(
            col(Agent.last_seen_utc) >= seen_since,
            col(Agent.revoked_utc).is_(None),
            or_(col(JournalSync.claimed_utc).is_(None), col(JournalSync.claimed_utc) < stale_before),
        )
        .order_by(col(Agent.name))
    )
    return (await session.exec(stmt)).all()


async def claim(
    session: AsyncSession, agent_name: str, now: datetime, stale_before: datetime
) -> JournalSync | None:
    """Take the right to read `agent_name`'s journal now; None when a replica read it after `stale_before`."""
    insert = insert_for(session)
    await session.exec(insert(JournalSync).values(agent_name=agent_name).on_conflict_do_nothing())  # type: ignore[call-overload]
    stmt = (
        update(JournalSync)
        .where(
            col(JournalSync.agent_name) == agent_name,
            or_(col(JournalSync.claimed_utc).is_(None), col(JournalSync.claimed_utc) < stale_before),
        )
        .values(claimed_utc=now)
        .execution_options(synchronize_session=False)
    )
    if not await won(session, stmt):
        return None
    mark = await session.get(JournalSync, agent_name, populate_existing=True)
    assert mark is not None
    return mark


async def advance(session: AsyncSession, agent_name: str, synced_unix: float, record_id: str) -> None:
    stmt = (
        update(JournalSync)
        .where(col(JournalSync.agent_name) == agent_name)
        .values(synced_unix=synced_unix, synced_record_id=record_id)
        .execution_options(synchronize_session=False)
    )
    await session.exec(stmt)  # type: ignore[call-overload]


async def add_records_if_absent(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert records given as column values, each unless a record of its id exists (another replica
    put it back first); returns how many were inserted. One statement, executed for many rows."""
    if not rows:
        return 0
    defaults = {"sync_location": None, "continues": None}
    insert = insert_for(session)
    stmt = insert(Record).on_conflict_do_nothing().returning(Record.id)  # type: ignore[attr-defined]
    # RETURNING, not rowcount: what the drivers count for an INSERT that gave way differs.
    result = await session.exec(stmt, params=[defaults | row for row in rows])  # type: ignore[call-overload]
    return len(result.all())


async def add_source_if_absent(session: AsyncSession, row: Source) -> None:
    """Insert `row` under its own id unless that id is taken. PostgreSQL's id sequence is moved past
    it, so the next source created through the API does not collide with it."""
    insert = insert_for(session)
    values = {c.name: getattr(row, c.name) for c in Source.__table__.columns}  # type: ignore[attr-defined]
    await session.exec(insert(Source).values(**values).on_conflict_do_nothing())  # type: ignore[call-overload]
    if session.get_bind().dialect.name == "postgresql":
        await session.exec(  # type: ignore[call-overload]
            text("SELECT setval(pg_get_serial_sequence('source', 'id'), (SELECT MAX(id) FROM source))")
        )


async def recovered_source(session: AsyncSession, description: str) -> Source | None:
    """A source put back earlier for the same lost one (found by the description it was given)."""
    stmt = select(Source).where(Source.description == description).order_by(col(Source.id))
    return (await session.exec(stmt)).first()
