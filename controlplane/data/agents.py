"""Queries on agents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, or_, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.db import insert_for, won
from controlplane.models import Agent, Source

# Ids or names per statement: well under SQLite's limit of bound parameters.
_CHUNK = 500


async def list_all(session: AsyncSession) -> Sequence[Agent]:
    return (await session.exec(select(Agent).order_by(col(Agent.name)))).all()


async def get(session: AsyncSession, name: str) -> Agent | None:
    return await session.get(Agent, name)


async def seen_since(session: AsyncSession, since: datetime) -> Sequence[Agent]:
    stmt = (
        select(Agent)
        .where(col(Agent.last_seen_utc) >= since, col(Agent.revoked_utc).is_(None))
        .order_by(col(Agent.name))
    )
    return (await session.exec(stmt)).all()


async def upsert(session: AsyncSession, row: Agent) -> Agent:
    # An agent's first heartbeats may reach two replicas at once: the name decides which insert
    # lands, and the other becomes an update instead of a primary-key error.
    insert = insert_for(session)
    values = {column.name: getattr(row, column.name) for column in Agent.__table__.columns}  # type: ignore[attr-defined]
    await session.exec(insert(Agent).values(**values).on_conflict_do_nothing())  # type: ignore[call-overload]
    merged = await session.merge(row)
    await session.flush()
    return merged


class Standing(NamedTuple):
    name: str
    last_seen_utc: datetime | None
    down_utc: datetime | None
    revoked_utc: datetime | None


async def standing(session: AsyncSession, names: list[str]) -> list[Standing]:
    """What decides whether a beat of each agent may be written as a quiet one (no row objects)."""
    result = []
    for start in range(0, len(names), _CHUNK):
        stmt = core_select(
            col(Agent.name), col(Agent.last_seen_utc), col(Agent.down_utc), col(Agent.revoked_utc)
        ).where(col(Agent.name).in_(names[start : start + _CHUNK]))
        result += [Standing(*row) for row in (await (await session.connection()).execute(stmt)).all()]
    return result


_NOTE_SEEN = (
    update(Agent)
    .where(
        col(Agent.name) == bindparam("b_name"),
        col(Agent.revoked_utc).is_(None),
        or_(col(Agent.down_utc).is_(None), col(Agent.down_utc) < col(Agent.last_seen_utc)),
        col(Agent.last_seen_utc) >= bindparam("b_online_since"),
        col(Agent.last_seen_utc) < bindparam("b_at"),
    )
    .values(
        last_seen_utc=bindparam("b_at"),
        active_records=bindparam("b_active_records"),
        disk_free_bytes=bindparam("b_disk_free_bytes"),
        disk_total_bytes=bindparam("b_disk_total_bytes"),
        disk_reserve_bytes=bindparam("b_disk_reserve_bytes"),
        paused_records=bindparam("b_paused_records"),
    )
)


async def note_seen(session: AsyncSession, beats: list[dict[str, Any]]) -> None:
    """Write quiet heartbeats of many agents in one statement (executemany): last_seen_utc and the
    load facts, only where the agent is not revoked, not declared down since it was last seen, was
    online (seen since `online_since`) and has no later beat written already."""
    if beats:
        params = [{f"b_{key}": value for key, value in beat.items()} for beat in beats]
        await (await session.connection()).execute(_NOTE_SEEN, params)


async def source_counts(session: AsyncSession) -> dict[str, int]:
    stmt = (
        select(Source.agent_name, func.count())
        .where(col(Source.agent_name).is_not(None))
        .group_by(col(Source.agent_name))
    )
    return {name: count for name, count in (await session.exec(stmt)).all() if name}


async def sources_of(session: AsyncSession, name: str, ids: set[int] | None = None) -> Sequence[Source]:
    """The sources placed on agent `name` (`ids`: only those of them)."""
    # populate_existing: a placement decided by another request may have changed rows this session
    # already holds, and the agent must be told what the database says.
    stmt = select(Source).where(Source.agent_name == name).order_by(col(Source.id))
    if ids is not None:
        stmt = stmt.where(col(Source.id).in_(ids))
    return (await session.exec(stmt.execution_options(populate_existing=True))).all()


async def stamps_of(session: AsyncSession, name: str) -> dict[int, int]:
    """Each source placed on agent `name` with the assignment version of its last change (no rows, no
    credentials: what a heartbeat delta is decided on)."""
    stmt = core_select(Source.__table__.c.id, Source.__table__.c.assign_v).where(  # type: ignore[attr-defined]
        col(Source.agent_name) == name
    )
    return {int(sid): int(v) for sid, v in (await (await session.connection()).execute(stmt)).all()}


async def place(session: AsyncSession, source_id: int, agent_name: str) -> bool:
    """Give an unplaced source to an agent; False when another request placed it first."""
    stmt = (
        update(Source)
        .where(col(Source.id) == source_id, col(Source.agent_name).is_(None))
        .values(agent_name=agent_name)
        .execution_options(synchronize_session=False)
    )
    return await won(session, stmt)


async def unplaced(session: AsyncSession) -> list[tuple[int, str | None]]:
    """(id, site) of every source that names no agent, oldest first (no row objects, no secrets)."""
    stmt = core_select(col(Source.id), col(Source.site)).where(col(Source.agent_name).is_(None))
    rows = (await (await session.connection()).execute(stmt.order_by(col(Source.id)))).all()
    return [(source_id, site) for source_id, site in rows if source_id is not None]


async def any_unplaced(session: AsyncSession) -> bool:
    """Whether some source names no agent: the placement loop's question before any work."""
    stmt = core_select(col(Source.id)).where(col(Source.agent_name).is_(None)).limit(1)
    return (await (await session.connection()).execute(stmt)).first() is not None


async def place_many(session: AsyncSession, source_ids: list[int], agent_name: str) -> int:
    """Give unplaced sources to one agent; returns how many it got (another replica may have placed
    some of them first: those keep their agent)."""
    placed = 0
    for start in range(0, len(source_ids), _CHUNK):
        chunk = source_ids[start : start + _CHUNK]
        stmt = (
            update(Source)
            .where(col(Source.id).in_(chunk), col(Source.agent_name).is_(None))
            .values(agent_name=agent_name)
            .execution_options(synchronize_session=False)
        )
        placed += int((await session.exec(stmt)).rowcount)  # type: ignore[call-overload]
    return placed


async def unplace_sources_of(session: AsyncSession, name: str) -> int:
    stmt = (
        update(Source)
        .where(col(Source.agent_name) == name)
        .values(agent_name=None)
        .execution_options(synchronize_session=False)
    )
    result = await session.exec(stmt)  # type: ignore[call-overload]
    return int(result.rowcount)


async def silent_since(session: AsyncSession, before: datetime) -> Sequence[Agent]:
    """Agents last heard before `before` that have not been declared down since."""
    stmt = select(Agent).where(
        col(Agent.last_seen_utc) < before,
        col(Agent.revoked_utc).is_(None),
        or_(col(Agent.down_utc).is_(None), col(Agent.down_utc) < col(Agent.last_seen_utc)),
    )
    return (await session.exec(stmt.order_by(col(Agent.name)))).all()


async def declare_down(session: AsyncSession, name: str, now: datetime, before: datetime) -> bool:
    """Declare an agent down once per outage: False when it beat again meanwhile or another replica
    declared it first (the same condition as `silent_since`, now as one conditional UPDATE)."""
    stmt = (
        update(Agent)
        .where(
            col(Agent.name) == name,
            col(Agent.last_seen_utc) < before,
            col(Agent.revoked_utc).is_(None),
            or_(col(Agent.down_utc).is_(None), col(Agent.down_utc) < col(Agent.last_seen_utc)),
        )
        .values(down_utc=now)
        .execution_options(synchronize_session=False)
    )
    return await won(session, stmt)


async def move(session: AsyncSession, source_id: int, from_agent: str, to_agent: str) -> bool:
    """Move a source between agents; False when it is no longer where the caller saw it."""
    stmt = (
        update(Source)
        .where(col(Source.id) == source_id, col(Source.agent_name) == from_agent)
        .values(agent_name=to_agent)
        .execution_options(synchronize_session=False)
    )
    return await won(session, stmt)


async def seconds_of(session: AsyncSession, name: str) -> Sequence[Source]:
    """Dual-recorded sources whose second copy `name` records."""
    stmt = select(Source).where(Source.second_agent_name == name).order_by(col(Source.id))
    return (await session.exec(stmt.execution_options(populate_existing=True))).all()


async def place_second(session: AsyncSession, source_id: int, agent_name: str, previous: str | None) -> bool:
    """Give a dual-recorded source its second agent; False when another request changed it first.
    Never the agent that records its first copy: the condition says so, not the caller."""
    stmt = (
        update(Source)
        .where(
            col(Source.id) == source_id,
            or_(col(Source.agent_name).is_(None), col(Source.agent_name) != agent_name),
            col(Source.second_agent_name).is_(None)
            if previous is None
            else col(Source.second_agent_name) == previous,
        )
        .values(second_agent_name=agent_name)
        .execution_options(synchronize_session=False)
    )
    return await won(session, stmt)


async def promote_second(session: AsyncSession, source_id: int, down: str, second: str) -> bool:
    """The first agent of a dual-recorded source is down: its second becomes its first."""
    stmt = (
        update(Source)
        .where(
            col(Source.id) == source_id,
            col(Source.agent_name) == down,
            col(Source.second_agent_name) == second,
        )
        .values(agent_name=second, second_agent_name=None)
        .execution_options(synchronize_session=False)
    )
    return await won(session, stmt)


async def drop_second(session: AsyncSession, source_id: int, down: str) -> bool:
    """The second agent of a dual-recorded source is down: it has none until one is placed again."""
    stmt = (
        update(Source)
        .where(col(Source.id) == source_id, col(Source.second_agent_name) == down)
        .values(second_agent_name=None)
        .execution_options(synchronize_session=False)
    )
    return await won(session, stmt)


async def still_down(session: AsyncSession, since: datetime) -> Sequence[Agent]:
    """Agents declared down at or after `since` and not heard from again."""
    stmt = select(Agent).where(
        col(Agent.down_utc) >= since,
        col(Agent.revoked_utc).is_(None),
        or_(col(Agent.last_seen_utc).is_(None), col(Agent.down_utc) >= col(Agent.last_seen_utc)),
    )
    return (await session.exec(stmt.order_by(col(Agent.name)))).all()


async def second_counts(session: AsyncSession) -> dict[str, int]:
    stmt = (
        select(Source.second_agent_name, func.count())
        .where(col(Source.second_agent_name).is_not(None))
        .group_by(col(Source.second_agent_name))
    )
    return {name: count for name, count in (await session.exec(stmt)).all() if name}
