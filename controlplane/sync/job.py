"""One sync job run by the replica holding its lease: plan, copy each record, finish.

Progress lives in the job row (per-record items), so a job taken over by another replica copies only
what is not yet copied and verified. Every write goes through `sync_jobs.save`, fenced by the lease."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from controlplane.context import AppContext
from controlplane.data import records as records_data
from controlplane.data import sync_jobs
from controlplane.db import utcnow
from controlplane.destinations import Destination, Links, Outgoing
from controlplane.destinations.locations import parse_location
from controlplane.errors import CopyVerificationError, ServiceError
from controlplane.models import Record
from controlplane.models.sync import ItemStatus, SyncItem, SyncJob, SyncStatus
from controlplane.services import agents as agents_service
from controlplane.services import media_urls
from controlplane.services.tags import get_tag
from controlplane.sync.lease import Lease, LeaseLost
from controlplane.sync.throttle import metered
from shared.enums import RecordStatus

log = logging.getLogger(__name__)

MIN_RATE = 1024 * 1024  # bytes/s assumed when a deadline is sized for a copy
COPY_CHUNK = 4 * 1024 * 1024  # the agents' largest; gRPC messages stay under their 8 MiB limit


class JobRun:
    def __init__(self, ctx: AppContext, lease: Lease, links: Links) -> None:
        self._ctx, self._lease, self._links = ctx, lease, links

    async def run(self) -> None:
        async with self._ctx.sessions() as session:
            job = await sync_jobs.get(session, self._lease.job_id)
        destination = parse_location(job.location, self._ctx.settings, self._links)
        if not job.items:
            job.items, job.bytes_total = await self._plan(job, destination)
            await self._save(job, status=SyncStatus.RUNNING, bytes_total=job.bytes_total)
        for index, item in enumerate(job.items):
            if item.status is ItemStatus.PENDING:
                await self._copy_item(job, index, destination)
        failed = any(i.status is ItemStatus.FAILED for i in job.items)
        status = SyncStatus.FAILED if failed else SyncStatus.COMPLETED
        async with self._ctx.sessions() as session:
            if not await sync_jobs.finish(session, job.id, self._lease.owner, status, utcnow()):
                raise LeaseLost(f"sync job {job.id} was taken over before it finished here")
            await session.commit()
        log.info("sync job %s %s", job.id, status)

    async def _plan(self, job: SyncJob, destination: Destination) -> tuple[list[SyncItem], int]:
        async with self._ctx.sessions() as session:
            tag = await get_tag(session, job.tag_name)
            assert tag.id is not None
            records = await records_data.of_tag(session, tag.id)
        items, total = [], 0
        for record in records:
            item = SyncItem(record_id=record.id, status=ItemStatus.PENDING)
            if record.status != RecordStatus.COMPLETED or not record.hash_md5:
                item.status, item.error = ItemStatus.SKIPPED, f"record is {record.status}, not completed"
            elif record.sync_location and destination.owns(record.sync_location):
                item.status, item.sync_location = ItemStatus.SKIPPED, record.sync_location
                item.error = "already synced to this location"
            else:
                total += record.size_bytes or 0
            items.append(item)
        return items, total

    async def _copy_item(self, job: SyncJob, index: int, destination: Destination) -> None:
        item = job.items[index]
        async with self._ctx.sessions() as session:
            record = await records_data.get(session, item.record_id)
        sent = 0

        def on_bytes(n: int) -> None:
            nonlocal sent
            sent += n

        retries = self._ctx.settings.sync_retries

        def give_up(state: RetryCallState) -> bool:
            # A copy that hashed wrong is retried once (a flipped bit on the way), not for as long as
            # an unreachable destination: the same bytes will hash the same again.
            verification = isinstance(state.outcome and state.outcome.exception(), CopyVerificationError)
            return item.attempts > (min(retries, 2) if verification else retries)

        async def note_failure(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            item.error = exc.message if isinstance(exc, ServiceError) else repr(exc)
            if isinstance(exc, CopyVerificationError):
                self._ctx.metrics.sync_mismatches.inc()
            log.warning("sync %s: record %s attempt %s: %s", job.id, record.id, item.attempts, item.error)
            await self._save(job)

        try:
            async for attempt in AsyncRetrying(
                stop=give_up,
                wait=wait_exponential(multiplier=0.5, max=5.0),
                retry=retry_if_exception_type(ServiceError),
                before_sleep=note_failure,
                reraise=True,
            ):
                with attempt:
                    sent = 0
                    item.attempts += 1
                    location = await self._copy_once(job, record, destination, on_bytes, item.attempts)
        except ServiceError as exc:
            item.status, item.error = ItemStatus.FAILED, exc.message
            self._ctx.metrics.sync_failures.inc()
            if isinstance(exc, CopyVerificationError):
                self._ctx.metrics.sync_mismatches.inc()
            log.warning(
                "sync %s: record %s failed after %s attempts: %s", job.id, record.id, item.attempts, exc
            )
            await self._save(job)
            return
        item.status, item.sync_location, item.error, item.bytes = ItemStatus.COPIED, location, None, sent
        job.bytes_done += sent
        self._ctx.metrics.sync_bytes.inc(sent)
        await self._save(job, bytes_done=job.bytes_done, record_copied=(record.id, location, destination))

    async def _copy_once(
        self,
        job: SyncJob,
        record: Record,
        destination: Destination,
        on_bytes: Callable[[int], None],
        attempt: int,
    ) -> str:
        assert record.location and record.size_bytes is not None
        async with self._ctx.sessions() as session:
            source_agent = await agents_service.agent_for_record(session, self._ctx.settings, record)
        source = self._ctx.agents.client(source_agent)
        size = record.size_bytes
        direct = media_urls.sign(self._ctx.settings, source_agent, record, public=False)
        # The bytes from the source agent's HTTP port (sendfile there), over gRPC only from an agent
        # without one. Lazy: a destination that pulls from `direct` itself never starts this read.
        if direct is not None:
            raw = media_urls.read(self._ctx.agents.http, source_agent.name, direct.url, COPY_CHUNK)
        else:
            raw = source.read_file(record.id, record.location, 0, size, COPY_CHUNK)
        chunks = metered(raw, on_bytes, job.bandwidth_bps)
        deadline = 60.0 + size / min(job.bandwidth_bps or MIN_RATE, MIN_RATE)
        outgoing = Outgoing(
            record,
            job.tag_name,
            chunks,
            deadline,
            attempt,
            source_url=direct.url if direct is not None else None,
            on_bytes=on_bytes,
            bandwidth_bps=job.bandwidth_bps,
        )
        return await destination.copy(outgoing)

    async def _save(
        self, job: SyncJob, record_copied: tuple[str, str, Destination] | None = None, **values: Any
    ) -> None:
        """Write the items (and `values`) if we still hold the job; with a copied record's new
        sync_location in the same transaction, so a refused write leaves no trace."""
        async with self._ctx.sessions() as session:
            saved = await sync_jobs.save(
                session, job.id, self._lease.owner, items=job.items, updated_utc=utcnow(), **values
            )
            if not saved:
                await session.rollback()
                raise LeaseLost(f"sync job {job.id} was taken over by another replica")
            if record_copied is not None:
                record_id, location, destination = record_copied
                row = await records_data.get(session, record_id)
                if row.sync_location is None or not destination.owns(row.sync_location):
                    row.sync_location = location
            await session.commit()
