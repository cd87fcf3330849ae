"""Queries of the live WebSocket's tickets: kept until spent or lapsed, spent by one conditional DELETE
so that two replicas asked for the same ticket at once cannot both accept it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.db import won
from controlplane.models import LiveTicketRow


async def insert(session: AsyncSession, row: LiveTicketRow, now: datetime) -> None:
    """Keep a new ticket, and drop the lapsed ones (the table holds the last TTL's tickets only)."""
    await session.exec(delete(LiveTicketRow).where(col(LiveTicketRow.expires_utc) < now))  # type: ignore[call-overload]
    session.add(row)


async def take(session: AsyncSession, ticket_hash: str, now: datetime) -> LiveTicketRow | None:
    """The ticket's row, deleted now (presented once, a ticket is spent, in time or not); None when it
    is unknown, lapsed, or taken by another request first."""
    row = await session.get(LiveTicketRow, ticket_hash)
    if row is None:
        return None
    stmt = (
        delete(LiveTicketRow)
        .where(col(LiveTicketRow.ticket_hash) == ticket_hash)
        .execution_options(synchronize_session=False)
    )
    return row if await won(session, stmt) and row.expires_utc >= now else None
