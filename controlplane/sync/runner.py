"""Runs sync jobs in the background of a control-plane process.

Each job is held under a lease in the database, so with several replicas exactly one runs it, and
when that replica dies another takes it over once the lease lapses. Per-record progress is in the
job row: a restarted job copies only what is not yet copied and verified."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.context import AppContext
from controlplane.data import records as records_data
from controlplane.data import sync_jobs
from controlplane.db import utcnow
from controlplane.errors import CopyVerificationError, ServiceError
from controlplane.models import Record
from controlplane.models.sync import ItemStatus, SyncItem, SyncJob, SyncStatus
from controlplane.services import agents as agents_service
from controlplane.services.tags import get_tag
from controlplane.sync.locations import Target, parse_location
from controlplane.sync.transfer import copy_record
from shared.enums import RecordStatus

log = logging.getLogger(__name__)


class SyncRunner:
    def __init__(self, ctx: AppContext, poll_s: float = 2.0) -> None:
        self._ctx = ctx
        self._owner = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._poll = poll_s
        self._lease = timedelta(seconds=ctx.settings.sync_lease_s)
        # Set by POST /sync on this replica: look now rather than at the next poll.
        self._wake = ctx.sync_wake

    async def run(self) -> None:
        while True:
            try:
                job_id = await self._claim()
                if job_id is not None:
                    await self._run_job(job_id)
                    continue
            except Exception:  # a bad job or a database hiccup must not end the loop
                log.exception("sync runner")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            self._wake.clear()

    async def _claim(self) -> str | None:
        async with self._ctx.sessions() as session:
            job_id = await sync_jobs.claim(session, self._owner, utcnow(), self._lease)
            await session.commit()
            return job_id

    async def _run_job(self, job_id: str) -> None:
        renewer = asyncio.create_task(self._keep_lease(job_id))
        try:
            async with self._ctx.sessions() as session:
                job = await sync_jobs.get(session, job_id)
                target = parse_location(job.location, self._ctx.settings)
                if not job.items:
                    await self._plan(session, job, target)
                for index, item in enumerate(job.items):
                    if item["status"] == ItemStatus.PENDING.value:
                        await self._copy_item(session, job, index, target)
                failed = any(i["status"] == ItemStatus.FAILED.value for i in job.items)
                job.status = (SyncStatus.FAILED if failed else SyncStatus.COMPLETED).value
                job.lease_owner, job.lease_until, job.updated_utc = None, None, utcnow()
                await session.commit()
                log.info("sync job %s %s", job.id, job.status)
        finally:
            renewer.cancel()

    async def _keep_lease(self, job_id: str) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            async with self._ctx.sessions() as session:
                await sync_jobs.renew(session, job_id, self._owner, utcnow() + self._lease)
                await session.commit()

    async def _plan(self, session: AsyncSession, job: SyncJob, target: Target) -> None:
        tag = await get_tag(session, job.tag_name)
        assert tag.id is not None
        items, total = [], 0
        for record in await records_data.of_tag(session, tag.id):
            item = SyncItem(record_id=record.id, status=ItemStatus.PENDING)
            if record.status != RecordStatus.COMPLETED.value or not record.hash_md5:
                item.status, item.error = ItemStatus.SKIPPED, f"record is {record.status}, not completed"
            elif record.sync_location and target.owns(record.sync_location):
                item.status, item.sync_location = ItemStatus.SKIPPED, record.sync_location
                item.error = "already synced to this location"
            else:
                total += record.size_bytes or 0
            items.append(item.model_dump(mode="json"))
        job.items, job.bytes_total, job.status = items, total, SyncStatus.RUNNING.value
        job.updated_utc = utcnow()
        await session.commit()

    async def _copy_item(self, session: AsyncSession, job: SyncJob, index: int, target: Target) -> None:
        item = SyncItem.model_validate(job.items[index])
        record = await records_data.get(session, item.record_id)
        base_bytes, sent = job.bytes_done, 0

        def on_bytes(n: int) -> None:
            nonlocal sent
            sent += n

        while True:
            sent = 0
            item.attempts += 1
            try:
                location = await self._copy_once(session, record, job, target, on_bytes)
            except ServiceError as exc:
                item.error = exc.message
                log.warning(
                    "sync %s: record %s attempt %s: %s", job.id, record.id, item.attempts, exc.message
                )
                # A copy that hashed wrong is retried once (a flipped bit on the way), not for as long
                # as an unreachable destination: the same bytes will hash the same again.
                limit = (
                    min(self._ctx.settings.sync_retries, 2)
                    if isinstance(exc, CopyVerificationError)
                    else (self._ctx.settings.sync_retries)
                )
                if item.attempts > limit:
                    item.status = ItemStatus.FAILED
                    break
                await self._save(session, job, index, item, base_bytes)
                await asyncio.sleep(min(0.5 * 2 ** (item.attempts - 1), 5.0))
                continue
            item.status, item.sync_location, item.error, item.bytes = ItemStatus.COPIED, location, None, sent
            if record.sync_location is None or not target.owns(record.sync_location):
                record.sync_location = location
            base_bytes += sent
            break
        await self._save(session, job, index, item, base_bytes)

    async def _copy_once(
        self,
        session: AsyncSession,
        record: Record,
        job: SyncJob,
        target: Target,
        on_bytes: Callable[[int], None],
    ) -> str:
        source_agent = await agents_service.agent_for_record(session, self._ctx.settings, record)
        online = {a.name: a.address for a in await agents_service.online_agents(session, self._ctx.settings)}
        await session.commit()  # do not hold a transaction open over a long copy
        source = self._ctx.agents.client(source_agent.name, source_agent.address)
        return await copy_record(
            record, job.tag_name, source, target, self._ctx.agents, online.get, on_bytes, job.bandwidth_bps
        )

    async def _save(
        self, session: AsyncSession, job: SyncJob, index: int, item: SyncItem, bytes_done: int
    ) -> None:
        items = list(job.items)
        items[index] = item.model_dump(mode="json")
        job.items, job.bytes_done, job.updated_utc = items, bytes_done, utcnow()
        await session.commit()
