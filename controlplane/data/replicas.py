"""Replica lateness in the database (models.replica_late): one row per replica, written only while it
is late, read by every replica's failover check."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, delete, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.models import ReplicaLate

KEEP = timedelta(days=1)  # rows of replicas long gone are removed by the next write


async def note_late(session: AsyncSession, replica: str, at: datetime) -> None:
    """`replica` knew itself late at `at`. Only this replica writes its row: no race on it."""
    result = await session.exec(  # type: ignore[call-overload]
        update(ReplicaLate).where(col(ReplicaLate.replica) == replica).values(late_utc=at)
    )
    if result.rowcount == 0:
        session.add(ReplicaLate(replica=replica, late_utc=at))
        await session.exec(delete(ReplicaLate).where(col(ReplicaLate.late_utc) < at - KEEP))  # type: ignore[call-overload]
    await session.flush()


async def last_late(session: AsyncSession) -> datetime | None:
    """The last moment any replica knew itself late."""
    return (await session.exec(select(func.max(ReplicaLate.late_utc)))).one()
