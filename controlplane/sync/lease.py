"""The lease under which one replica runs one sync job, and what happens when it is lost.

The database referees: a renewal or a progress write is `UPDATE ... WHERE lease_owner = me`. A
replica stops copying the moment a renewal finds another owner, and also when it cannot confirm its
lease before the lease lapses (a database it cannot reach), because by then another replica may be
copying the same job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from controlplane.data import sync_jobs
from controlplane.db import utcnow

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This replica no longer holds the job: it must stop and write nothing more."""


class Lease:
    """A claimed job's lease, renewed every third of its length while `held()`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        job_id: str,
        owner: str,
        length: timedelta,
        until: datetime,
    ) -> None:
        self.job_id, self.owner = job_id, owner
        self._sessions, self._length, self._until = sessions, length, until

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Run the body while the lease is kept; if it is lost, the body is cancelled at once and
        LeaseLost raised in its place."""
        body = asyncio.current_task()
        assert body is not None
        lost: list[LeaseLost] = []

        async def keep() -> None:
            try:
                while True:
                    await asyncio.sleep(self._length.total_seconds() / 3)
                    await self.renew()
            except LeaseLost as exc:
                lost.append(exc)
                body.cancel()
            except Exception as exc:  # a renewer that died unseen would let the lease lapse mid-copy
                log.exception("sync job %s: lease keeper failed", self.job_id)
                lost.append(LeaseLost(f"lease keeper of sync job {self.job_id} failed: {type(exc).__name__}"))
                body.cancel()

        keeper = asyncio.create_task(keep(), name=f"lease-{self.job_id}")
        try:
            yield
        except asyncio.CancelledError:
            if not lost:
                raise
            body.uncancel()
            raise lost[0] from None
        finally:
            keeper.cancel()
            try:
                await asyncio.wait({keeper})
            except asyncio.CancelledError:
                # The lease was lost just as the body finished: what it wrote was fenced anyway.
                if not lost:
                    raise
                body.uncancel()

    async def renew(self) -> None:
        """Extend the lease, retrying database errors until just before it lapses; LeaseLost when
        another replica holds it or it could not be confirmed in time."""
        margin = self._length * 0.1
        remaining = (self._until - margin - utcnow()).total_seconds()
        try:
            async with asyncio.timeout(max(remaining, 0)):
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type((SQLAlchemyError, OSError)),
                    wait=wait_exponential(multiplier=0.1, max=2.0),
                    before_sleep=self._log_retry,
                    reraise=True,
                ):
                    with attempt:
                        until = utcnow() + self._length
                        async with self._sessions() as session:
                            renewed = await sync_jobs.renew(session, self.job_id, self.owner, until)
                            await session.commit()
        except TimeoutError:
            raise LeaseLost(
                f"lease of sync job {self.job_id} could not be confirmed before it lapsed"
            ) from None
        if not renewed:
            raise LeaseLost(f"sync job {self.job_id} was taken over by another replica")
        self._until = until

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "sync job %s: lease renewal failed (attempt %s), retrying: %s",
            self.job_id,
            state.attempt_number,
            type(exc).__name__,
        )
