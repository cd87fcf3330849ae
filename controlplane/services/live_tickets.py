"""Short-lived tickets that open the console's live WebSocket.

A browser cannot put an Authorization header on a WebSocket, and the API token must never ride in a
URL (proxies and browser histories keep URLs). So the console asks for a ticket with an ordinary
authenticated call (`POST /api/v1/live/ticket`), then opens the WebSocket with it: the ticket is
worth one connection within `TICKET_TTL_S`, and nothing else.

Tickets live in the database (their hash, never the ticket): a ticket issued by one replica opens
the WebSocket at any other, once in all (a process-local record of spent tickets would let the same
ticket in once per replica), and the WebSocket knows whom the ticket was issued to, for the audit."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.auth.principal import Principal
from controlplane.auth.roles import Role
from controlplane.data import live_tickets as tickets_data
from controlplane.db import utcnow
from controlplane.models import LiveTicketRow
from controlplane.models.common import UtcDatetimeOut

TICKET_TTL_S = 30
MAX_TICKET_CHARS = 200  # ours are 43; anything longer is not looked up


class LiveTicket(BaseModel):
    ticket: str = Field(description="opens one live WebSocket (`/api/v1/live/ws?ticket=...`)")
    expires_utc: UtcDatetimeOut = Field(description="unused after this, it is refused: ask again")


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


async def issue(sessions: async_sessionmaker[AsyncSession], principal: Principal) -> LiveTicket:
    ticket = secrets.token_urlsafe(32)  # 256 random bits
    now = utcnow()
    expires = now + timedelta(seconds=TICKET_TTL_S)
    row = LiveTicketRow(
        ticket_hash=_hash(ticket),
        expires_utc=expires,
        actor_kind=principal.kind,
        actor=principal.name,
        role=principal.role.value if principal.role else None,
    )
    async with sessions() as session:
        await tickets_data.insert(session, row, now)
        await session.commit()
    return LiveTicket(ticket=ticket, expires_utc=expires)


async def redeem(sessions: async_sessionmaker[AsyncSession], ticket: str) -> Principal | None:
    """Whom `ticket` was issued to, when it is one of ours, unexpired and not used before (it is used
    up now, on every replica); None otherwise."""
    if not ticket or len(ticket) > MAX_TICKET_CHARS:
        return None
    async with sessions() as session:
        row = await tickets_data.take(session, _hash(ticket), utcnow())
        await session.commit()
    if row is None:
        return None
    role = Role(row.role) if row.role is not None and row.role in Role._value2member_map_ else None
    return Principal(row.actor_kind, row.actor, role)
