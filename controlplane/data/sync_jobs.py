"""Queries on sync jobs, including the lease that makes one replica run each job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.errors import NotFoundError
from controlplane.models.sync import SyncJob, SyncStatus

_OPEN = [SyncStatus.QUEUED.value, SyncStatus.RUNNING.value]


async def get(session: AsyncSession, job_id: str) -> SyncJob:
    row = await session.get(SyncJob, job_id)
    if row is None:
        raise NotFoundError("sync job", job_id)
    return row


async def list_all(session: AsyncSession) -> Sequence[SyncJob]:
    return (await session.exec(select(SyncJob).order_by(col(SyncJob.created_utc).desc()))).all()


async def add(session: AsyncSession, row: SyncJob) -> SyncJob:
    session.add(row)
    await session.flush()
    return row


async def claim(session: AsyncSession, owner: str, now: datetime, lease: timedelta) -> str | None:
    """Take one open job whose lease has lapsed (or is ours). A conditional UPDATE, so of two
    replicas that pick the same job only one gets it, on SQLite and PostgreSQL alike."""
    free = or_(
        col(SyncJob.lease_until).is_(None), col(SyncJob.lease_until) < now, col(SyncJob.lease_owner) == owner
    )
    candidates = (
        await session.exec(
            select(SyncJob.id)
            .where(col(SyncJob.status).in_(_OPEN), free)
            .order_by(col(SyncJob.created_utc))
            .limit(5)
        )
    ).all()
    for job_id in candidates:
        result = await session.exec(  # type: ignore[call-overload]
            update(SyncJob)
            .where(col(SyncJob.id) == job_id, free)
            .values(lease_owner=owner, lease_until=now + lease)
        )
        if result.rowcount == 1:
            return job_id
    return None


async def renew(session: AsyncSession, job_id: str, owner: str, until: datetime) -> bool:
    result = await session.exec(  # type: ignore[call-overload]
        update(SyncJob)
        .where(col(SyncJob.id) == job_id, col(SyncJob.lease_owner) == owner)
        .values(lease_until=until)
    )
    return bool(result.rowcount == 1)
