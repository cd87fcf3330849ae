"""Queries on sync jobs, including the lease that makes one replica run each job.

Every write of a running job is fenced: a conditional UPDATE ... WHERE lease_owner = me, so once
another replica has taken a job over, the old owner's writes change nothing and it learns it lost."""

from __future__ import annotations

from collections.abc import Sequence, Set
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.db import won
from controlplane.errors import NotFoundError
from controlplane.models.sync import SyncJob, SyncStatus, destination_key

_OPEN = [SyncStatus.QUEUED, SyncStatus.RUNNING]


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


async def claim(
    session: AsyncSession, owner: str, now: datetime, lease: timedelta, busy: Set[str] = frozenset()
) -> tuple[str, str] | None:
    """Take (id, location) of the oldest open job whose lease has lapsed (or is ours) and whose destination is neither
    in `busy` (ours) nor being copied to under another replica's live lease. A conditional UPDATE, so
    of two replicas that pick the same job only one gets it, on SQLite and PostgreSQL alike."""
    free = or_(
        col(SyncJob.lease_until).is_(None), col(SyncJob.lease_until) < now, col(SyncJob.lease_owner) == owner
    )
    open_jobs = (
        await session.exec(
            select(SyncJob.id, SyncJob.location, SyncJob.lease_owner, SyncJob.lease_until)
            .where(col(SyncJob.status).in_(_OPEN))
            .order_by(col(SyncJob.created_utc))
        )
    ).all()

    def held_elsewhere(holder: str | None, until: datetime | None) -> bool:
        return holder not in (None, owner) and until is not None and until >= now

    taken = set(busy) | {
        destination_key(loc) for _, loc, holder, until in open_jobs if held_elsewhere(holder, until)
    }
    for job_id, location, holder, until in open_jobs:
        if held_elsewhere(holder, until) or destination_key(location) in taken:
            continue
        claim = update(SyncJob).where(col(SyncJob.id) == job_id, free)
        if await won(session, claim.values(lease_owner=owner, lease_until=now + lease)):
            return str(job_id), str(location)
    return None


async def renew(session: AsyncSession, job_id: str, owner: str, until: datetime) -> bool:
    return await won(
        session,
        update(SyncJob)
        .where(col(SyncJob.id) == job_id, col(SyncJob.lease_owner) == owner)
        .values(lease_until=until),
    )


async def save(session: AsyncSession, job_id: str, owner: str, **values: Any) -> bool:
    """Write the job's progress if `owner` still holds it; False (nothing written) otherwise."""
    return await won(
        session,
        update(SyncJob).where(col(SyncJob.id) == job_id, col(SyncJob.lease_owner) == owner).values(**values),
    )


async def finish(session: AsyncSession, job_id: str, owner: str, status: SyncStatus, now: datetime) -> bool:
    """End the job and give up its lease, if `owner` still holds it."""
    return await save(
        session, job_id, owner, status=status, lease_owner=None, lease_until=None, updated_utc=now
    )


async def totals_by_status(session: AsyncSession) -> list[tuple[str, int, int]]:
    """(status, jobs, bytes copied) for each status some job has."""
    jobs = select(SyncJob.status, func.count(), func.coalesce(func.sum(SyncJob.bytes_done), 0)).group_by(
        col(SyncJob.status)
    )
    return [(str(status), count, int(done)) for status, count, done in (await session.exec(jobs)).all()]
