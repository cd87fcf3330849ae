"""Queries on sources."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, String, or_, true, type_coerce, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.db import won
from controlplane.errors import NotFoundError
from controlplane.models import Agent, GroupSourceLink, ListVersion, Source
from controlplane.models.source import SHOWN_AS_STORED
from shared.enums import SourceStatus

# What the list shows, as plain columns: no ORM objects to build, no password read (only whether one
# is set), and the enums as their stored strings (the list writes them straight to JSON).
LIST_COLUMNS: tuple[Any, ...] = (
    col(Source.id),
    col(Source.created_utc),
    type_coerce(col(Source.status), String),
    col(Source.status_detail),
    col(Source.status_utc),
    type_coerce(col(Source.model), String),
    col(Source.uri_rtsp),
    col(Source.picture_uri),
    col(Source.picture_auth),
    col(Source.picture_user),
    col(Source.picture_password).is_not(None),
    col(Source.agent_name),
    col(Source.failover),
    col(Source.second_agent_name),
    # Then the columns shown as stored, in that order (services.source_list zips them with the names).
    *(col(getattr(Source, name)) for name in SHOWN_AS_STORED),
)


async def list_all(session: AsyncSession) -> Sequence[Source]:
    return (await session.exec(select(Source).order_by(col(Source.id)))).all()


_LIST_ROWS = core_select(*LIST_COLUMNS).order_by(col(Source.id))
_LIST_VERSION = (
    core_select(col(ListVersion.n), col(Agent.name), col(Agent.last_seen_utc), col(Agent.revoked_utc))
    .select_from(ListVersion)
    .outerjoin(Agent, true())
    .where(col(ListVersion.name) == "source")
)


async def list_rows(session: AsyncSession) -> Sequence[Row[Any]]:
    """Every source as a row of LIST_COLUMNS, by id (Core on the session's connection: no ORM)."""
    return (await (await session.connection()).execute(_LIST_ROWS)).all()


async def list_version(
    session: AsyncSession,
) -> tuple[int, list[tuple[str, datetime | None, datetime | None]]]:
    """The sources' version and each agent's name, last heartbeat and revocation, in one statement:
    what the list shows is the sources as of that version, with the status of an offline agent's
    sources unknown."""
    rows = (await (await session.connection()).execute(_LIST_VERSION)).all()
    if not rows:
        raise RuntimeError("list_version has no row for sources: the schema was not upgraded")
    return rows[0][0], [(name, seen, revoked) for _, name, seen, revoked in rows if name is not None]


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


async def add_many(session: AsyncSession, rows: list[Source]) -> list[Source]:
    """Insert rows in one flush (the drivers batch the INSERTs and return the ids)."""
    session.add_all(rows)
    await session.flush()
    return rows


async def note_status(
    session: AsyncSession,
    agent_name: str,
    ids: list[int],
    status: SourceStatus,
    detail: str | None,
    now: datetime,
) -> None:
    """A probed state on sources of `agent_name` (others' probes do not count), stamped with `now`
    only where it changed: stamping every probe would change the rows, and so the source list's
    ETag, on every heartbeat (pollers would never get their 304). A source still online keeps its
    detail: the words of a good probe vary ("RTSP DESCRIBE ok (528 bytes of SDP)") and are no news."""
    changed = [col(Source.status) != status, col(Source.status_utc).is_(None)]
    if status != SourceStatus.ONLINE:
        changed.append(col(Source.status_detail).is_distinct_from(detail))
    for start in range(0, len(ids), 500):
        stmt = (
            update(Source)
            .where(
                col(Source.id).in_(ids[start : start + 500]),
                col(Source.agent_name) == agent_name,
                or_(*changed),
            )
            .values(status=status, status_detail=detail, status_utc=now)
            .execution_options(synchronize_session=False)
        )
        await session.exec(stmt)  # type: ignore[call-overload]


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


SEALED_COLUMNS = ("uri_rtsp", "picture_uri", "picture_password")


async def stored_secrets(session: AsyncSession) -> Sequence[Row[Any]]:
    """(id, *SEALED_COLUMNS) as stored: sealed or plain, not opened."""
    columns: list[Any] = [col(Source.id), *(type_coerce(getattr(Source, n), String) for n in SEALED_COLUMNS)]
    stmt = core_select(*columns).order_by(col(Source.id))
    return (await (await session.connection()).execute(stmt)).all()


async def reseal(session: AsyncSession, source_id: int, column: str, stored: str, plain: str) -> bool:
    """Write `plain` (sealed with the current key on its way) where `column` still holds `stored`;
    False when a request changed it meanwhile, which sealed it already."""
    stmt = (
        update(Source)
        .where(col(Source.id) == source_id, type_coerce(getattr(Source, column), String) == stored)
        .values({column: plain})
        .execution_options(synchronize_session=False)
    )
    return await won(session, stmt)
