"""The audit trail: entries written as requests are answered (api/audit_trail.py) and by commands on
the host, read by admins, purged past their retention."""

from __future__ import annotations

import asyncio
import getpass
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.auth.principal import ActorKind, Principal
from controlplane.auth.roles import Permission
from controlplane.data import audit as audit_data
from controlplane.data.audit import AuditFilter
from controlplane.db import utcnow
from controlplane.models.audit import AuditEntry, AuditResult
from controlplane.settings import Settings

log = logging.getLogger(__name__)
PURGE_BATCH = 5000  # entries per purge transaction: short locks on a large trail

__all__ = [
    "AuditFilter",
    "agent_joined",
    "live_refused",
    "live_view",
    "page",
    "purge_loop",
    "purge_once",
    "record_command",
    "write",
]


async def write(sessions: async_sessionmaker[AsyncSession], entry: AuditEntry) -> None:
    """In a transaction of its own: a refused or failed request has nothing else to commit."""
    async with sessions() as session:
        await audit_data.insert(session, entry)
        await session.commit()


async def record_command(session: AsyncSession, action: str, target: str, detail: str | None = None) -> None:
    """A change made by a command on the control plane's host (user add / remove), in its transaction."""
    entry = AuditEntry(
        time_utc=utcnow(),
        actor_kind=ActorKind.CLI,
        actor=_host_user(),
        action=action,
        target=target,
        detail=detail,
        result=AuditResult.OK,
    )
    await audit_data.insert(session, entry)


async def agent_joined(session: AsyncSession, name: str, site: str, address: str, when: datetime) -> None:
    """A new agent, by its first heartbeat, in that heartbeat's transaction: the one change an agent
    makes on its own that a person would look for (its beats every 2 s only say it is alive)."""
    entry = AuditEntry(
        time_utc=when,
        actor_kind=ActorKind.AGENT,
        actor=name[:128],
        action="agent_joined",
        target=f"agent:{name}"[:300],
        detail=f"site {site}, address {address}"[:500],
        result=AuditResult.OK,
    )
    await audit_data.insert(session, entry)


async def live_refused(sessions: async_sessionmaker[AsyncSession], client: str | None) -> None:
    """A live WebSocket refused for want of a good ticket (anonymous: the ticket names no one then)."""
    entry = AuditEntry(
        time_utc=utcnow(),
        actor_kind=ActorKind.ANONYMOUS,
        action="live_wall",
        result=AuditResult.REFUSED,
        status=403,
        permission=Permission.LIVE.value,
        client=client[:64] if client else None,
    )
    try:
        await write(sessions, entry)
    except Exception as exc:  # the refusal stands; the failure is logged
        log.error("audit entry of a refused live wall not written (%s)", type(exc).__name__)


async def live_view(
    sessions: async_sessionmaker[AsyncSession], who: Principal, source_id: int, client: str | None
) -> None:
    """A tile of the live wall opened (over its WebSocket, which the HTTP trail does not see)."""
    entry = AuditEntry(
        time_utc=utcnow(),
        actor_kind=who.kind,
        actor=who.name,
        role=who.role.value if who.role else None,
        action="live_wall_tile",
        target=f"source:{source_id}",
        result=AuditResult.OK,
        permission=Permission.LIVE.value,
        client=client[:64] if client else None,
    )
    try:
        await write(sessions, entry)
    except Exception as exc:  # the view goes on; the failure is logged
        log.error(
            "audit entry of a live view not written (%s): %s source %s",
            type(exc).__name__,
            who.name,
            source_id,
        )


def _host_user() -> str:
    try:
        return getpass.getuser()[:128]
    except (KeyError, OSError):  # no name for this uid (a container's)
        return "unknown"


async def page(session: AsyncSession, where: AuditFilter, offset: int, limit: int) -> Sequence[AuditEntry]:
    return await audit_data.page(session, where, offset, limit)


async def purge_once(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, now: datetime | None = None
) -> int:
    """Delete the entries past retention, a batch per transaction; how many this replica deleted."""
    cutoff = (now or utcnow()) - timedelta(days=settings.audit_retention_days)
    total = 0
    while True:
        async with sessions() as session:
            deleted = await audit_data.purge_before(session, cutoff, PURGE_BATCH)
            await session.commit()
        if not deleted:  # done, or another replica is purging (it will finish)
            return total
        total += deleted
        if deleted < PURGE_BATCH:
            return total


async def purge_loop(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Every replica runs it; the database keeps two from purging at once (data.audit)."""
    while True:
        try:
            purged = await purge_once(sessions, settings)
            if purged:
                log.info("purged %d audit entries older than %s days", purged, settings.audit_retention_days)
        except (OperationalError, SqlTimeoutError) as exc:  # busy or away: the next pass tries again
            log.warning("audit purge: the database is busy or away: %s", type(exc).__name__)
        except Exception:  # nothing must end the loop
            log.exception("audit purge")
        await asyncio.sleep(settings.audit_purge_interval_s)
