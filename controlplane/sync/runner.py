"""Runs sync jobs in the background of a control-plane process: a few at once, one per destination.

Each job is held under a lease in the database, so with several replicas exactly one runs it, and
when that replica dies another takes it over once the lease lapses (see `lease.py`)."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from datetime import timedelta

from controlplane.context import AppContext
from controlplane.data import sync_jobs
from controlplane.db import utcnow
from controlplane.destinations.locations import links_of
from controlplane.models.sync import destination_key
from controlplane.sync.job import JobRun
from controlplane.sync.lease import Lease, LeaseLost
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class SyncRunner:
    def __init__(self, ctx: AppContext, poll_s: float = 2.0, owner: str | None = None) -> None:
        self._ctx = ctx
        self.owner = owner or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._poll = poll_s
        self._lease = timedelta(seconds=ctx.settings.sync_lease_s)
        self._links = links_of(ctx)
        # Set by POST /sync on this replica: look now rather than at the next poll.
        self._wake = ctx.sync_wake
        self._running: dict[asyncio.Task[None], str] = {}  # job task -> its destination

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._start_jobs()
                except Exception:  # a database hiccup must not end the loop
                    log.exception("sync runner")
                await self._idle()
        finally:
            for task in self._running:
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _start_jobs(self) -> None:
        while len(self._running) < self._ctx.settings.sync_parallel_jobs:
            now = utcnow()
            async with self._ctx.sessions() as session:
                claimed = await sync_jobs.claim(
                    session, self.owner, now, self._lease, set(self._running.values())
                )
                await session.commit()
            if claimed is None:
                return
            job_id, location = claimed
            lease = Lease(self._ctx.sessions, job_id, self.owner, self._lease, now + self._lease)
            task = asyncio.create_task(self._run_job(lease), name=f"sync-{job_id}")
            self._running[task] = destination_key(location)
            task.add_done_callback(lambda t: self._running.pop(t, None))

    async def _idle(self) -> None:
        """Until POST /sync wakes us, a job ends (a slot and a destination free up), or the poll."""
        waker = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait(
                {waker, *self._running}, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            await cancel_and_wait(waker)
        self._wake.clear()

    async def _run_job(self, lease: Lease) -> None:
        try:
            async with lease.held():
                await JobRun(self._ctx, lease, self._links).run()
        except LeaseLost as exc:
            log.warning("sync job %s stopped here: %s", lease.job_id, exc)
        except Exception:
            log.exception("sync job %s", lease.job_id)
