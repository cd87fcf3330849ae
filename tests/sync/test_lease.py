"""Lease fencing of sync jobs, on a real SQLite and a real PostgreSQL: two replicas, one job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import sync_jobs
from controlplane.db import utcnow
from controlplane.models.sync import ItemStatus, SyncItem, SyncJob, SyncStatus
from controlplane.sync.lease import Lease, LeaseLost

pytestmark = pytest.mark.anyio
LEASE = timedelta(seconds=1.5)  # renewed every 0.5 s: how fast a lost lease is noticed
LONG = timedelta(seconds=60)  # a lease that cannot lapse while a test looks at it, however loaded the machine


async def new_job(sessions: async_sessionmaker[AsyncSession], location: str = "agent://dest/x") -> str:
    async with sessions() as session:
        job = await sync_jobs.add(session, SyncJob(tag_name="t", location=location))
        await session.commit()
        return job.id


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    owner: str,
    later: timedelta = timedelta(0),
    lease: timedelta = LEASE,
) -> Lease:
    """`later`: claim as if that much time had passed (the other owner's lease has lapsed by then)."""
    now = utcnow() + later
    async with sessions() as session:
        claimed = await sync_jobs.claim(session, owner, now, lease)
        await session.commit()
    assert claimed is not None, f"{owner} claimed nothing"
    return Lease(sessions, claimed[0], owner, lease, now + lease)


async def save(sessions: async_sessionmaker[AsyncSession], lease: Lease, bytes_done: int) -> bool:
    items = [SyncItem(record_id="r1", status=ItemStatus.COPIED, bytes=bytes_done)]
    async with sessions() as session:
        saved = await sync_jobs.save(
            session, lease.job_id, lease.owner, items=items, bytes_done=bytes_done, status=SyncStatus.RUNNING
        )
        await session.commit()
        return saved


async def stored(sessions: async_sessionmaker[AsyncSession], job_id: str) -> SyncJob:
    async with sessions() as session:
        return await sync_jobs.get(session, job_id)


async def test_after_a_takeover_the_old_owners_writes_are_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    job_id = await new_job(sessions)
    a = await claim(sessions, "replica-a", lease=LONG)
    assert await save(sessions, a, 100)
    async with sessions() as session:  # a live lease is not taken, not even for the same destination
        assert await sync_jobs.claim(session, "replica-b", utcnow(), LEASE) is None
    b = await claim(sessions, "replica-b", later=2 * LONG)
    assert b.job_id == job_id

    assert await save(sessions, b, 300)
    assert not await save(sessions, a, 200)  # A, late, would have moved progress back
    with pytest.raises(LeaseLost, match="taken over"):
        await a.renew()
    async with sessions() as session:
        assert not await sync_jobs.finish(session, job_id, "replica-a", SyncStatus.FAILED, utcnow())
        await session.commit()

    job = await stored(sessions, job_id)
    assert (job.lease_owner, job.bytes_done, job.status) == ("replica-b", 300, SyncStatus.RUNNING)
    assert job.items == [SyncItem(record_id="r1", status=ItemStatus.COPIED, bytes=300)]


async def test_an_owner_that_lost_its_lease_stops_copying_at_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await new_job(sessions)
    a = await claim(sessions, "replica-a")
    copying = asyncio.Event()

    async def copy_forever() -> None:
        async with a.held():
            copying.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(copy_forever())
    await copying.wait()
    await claim(sessions, "replica-b", later=2 * LEASE)
    async with asyncio.timeout(10 * LEASE.total_seconds()):  # the next renewal, a third of a lease on
        with pytest.raises(LeaseLost, match="taken over"):
            await task


class FlakySessions:
    """Sessions of a database that is unreachable for the next `failures` attempts (or for good)."""

    def __init__(self, real: async_sessionmaker[AsyncSession], failures: float) -> None:
        self.real, self.failures, self.refused = real, failures, 0

    def __call__(self) -> Any:
        if self.refused < self.failures:
            self.refused += 1
            return self._unreachable()
        return self.real()

    @asynccontextmanager
    async def _unreachable(self) -> AsyncIterator[AsyncSession]:
        raise OperationalError("UPDATE sync_job", {}, ConnectionRefusedError("database is down"))
        yield  # pragma: no cover


async def test_renewal_survives_database_errors(
    sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    job_id = await new_job(sessions)
    a = await claim(sessions, "replica-a")
    flaky = FlakySessions(sessions, failures=2)
    lease = Lease(flaky, a.job_id, a.owner, LEASE, utcnow() + LEASE)  # type: ignore[arg-type]
    before = (await stored(sessions, job_id)).lease_until
    with caplog.at_level(logging.WARNING, logger="controlplane.sync.lease"):
        await lease.renew()
    assert flaky.refused == 2 and "lease renewal failed" in caplog.text
    after = (await stored(sessions, job_id)).lease_until
    assert before is not None and after is not None and after > before


async def test_a_lease_that_cannot_be_confirmed_stops_the_copy_before_it_lapses(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await new_job(sessions)
    a = await claim(sessions, "replica-a")
    lease = Lease(FlakySessions(sessions, failures=float("inf")), a.job_id, a.owner, LEASE, utcnow() + LEASE)  # type: ignore[arg-type]
    stopped_at = None

    async def copy_forever() -> None:
        nonlocal stopped_at
        try:
            async with lease.held():
                await asyncio.Event().wait()
        finally:
            stopped_at = utcnow()

    expires = utcnow() + LEASE
    with pytest.raises(LeaseLost, match="could not be confirmed"):
        async with asyncio.timeout(10 * LEASE.total_seconds()):
            await copy_forever()
    assert stopped_at is not None and stopped_at < expires  # before another replica may take over


async def test_one_job_per_destination_at_a_time(sessions: async_sessionmaker[AsyncSession]) -> None:
    first = await new_job(sessions, "s3://bucket-a/x")
    await new_job(sessions, "s3://bucket-a/y")  # same bucket: waits
    other = await new_job(sessions, "agent://dest/z")
    a = await claim(sessions, "replica-a", lease=LONG)
    assert a.job_id == first
    async with sessions() as session:
        # Another replica skips the bucket A is copying to, and takes the job to the agent.
        assert await sync_jobs.claim(session, "replica-b", utcnow(), LEASE) == (other, "agent://dest/z")
        await session.commit()
        # A itself, told its bucket is busy, takes nothing more.
        assert await sync_jobs.claim(session, "replica-a", utcnow(), LEASE, {"s3://bucket-a"}) is None
