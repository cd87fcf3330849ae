"""The one control loop of placement and failover, and the only code of the package that commits.

Every replica runs it; the database decides. Declaring an agent down is one conditional UPDATE that
only one replica wins per outage, and everything that follows from it (sources moved, records handed
over, continuations created) is written in that same transaction, so a replica that dies half-way
leaves nothing behind and the next one decides again. Each other unit (a retried continuation, a
missing second copy, a placement pass) is a transaction of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.context import AppContext
from controlplane.data import agents as agents_data
from controlplane.data import records as records_data
from controlplane.db import utcnow
from controlplane.liveness import online_agents
from controlplane.models import Agent, Record, Source
from controlplane.placement import continuation, dual, single
from controlplane.placement.continuation import Continuation
from controlplane.placement.hold import hold, note_late
from controlplane.placement.room import room

log = logging.getLogger(__name__)
# Asks agents to start records (services.recording.launch), given by the caller: placement decides and
# commits, the services talk to agents (and placement stays below them: no import running back up).
Launch = Callable[[AppContext, AsyncSession, str, list[tuple[Record, Source, Agent]]], Awaitable[None]]
SETTLE_BOUND = 10  # placement waits for joining agents at most this many times placement_settle_s


@dataclass
class Waiting:
    """Since when this replica has held back unplaced sources for agents still joining (monotonic).
    Only a bound on waiting: another replica that places sooner is no harm, the database settles it."""

    since: float | None = None


async def run(ctx: AppContext, launch: Launch) -> None:
    """The background loop of one replica: it looks several times per `failover_after_s`, so a dead
    agent is declared down at most a fraction of that late, and at once when woken (a source added
    on this replica)."""
    poll = min(1.0, ctx.settings.failover_after_s / 5)
    waiting = Waiting()
    while True:
        try:
            await check_once(ctx, launch, waiting)
        except (OperationalError, SqlTimeoutError) as exc:  # busy or away: the next look tries again
            log.warning("placement check: the database is busy or away: %s", type(exc).__name__)
        except Exception:  # nothing must end the loop
            log.exception("placement check")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll):
                await ctx.placement_wake.wait()
        ctx.placement_wake.clear()


async def check_once(ctx: AppContext, launch: Launch, waiting: Waiting | None = None) -> int:
    """Declare every newly silent agent down and continue its records, try again for records of
    agents still down that found no agent before, place missing second copies and unplaced sources;
    returns how many agents it declared down. `waiting`: hold back placement while agents join (the
    loop's; None places at once)."""
    settings = ctx.settings
    declared = 0
    async with ctx.sessions() as session:
        now = utcnow()
        await note_late(settings, ctx.lag, session, ctx.replica, now)
        await session.commit()  # before anything else: no other replica may fail this one's agents over
        before = now - timedelta(seconds=settings.failover_after_s)
        silent = [a.name for a in await agents_data.silent_since(session, before)]
        if silent and (held := await hold(settings, ctx.lag, session, silent, now)) is not None:
            ctx.metrics.failover_held.labels(held).inc()
            silent = []
        retry_since = now - timedelta(seconds=settings.failover_retry_s)
        # Bounded: an agent down for longer than failover_retry_s is not looked at again.
        waiting_down = [
            a.name for a in await agents_data.still_down(session, retry_since) if a.name not in silent
        ]
        # Ids, not rows: a unit rolled back below expires every row the session holds.
        failed = [r.id for r in await records_data.failed_continuations(session, retry_since)]
        await session.rollback()  # read only so far: each step below is a transaction of its own
        for name in silent:
            if not await agents_data.declare_down(session, name, now, before):
                await session.rollback()  # another replica (or the agent's own heartbeat) got there first
                continue
            declared += 1
            taken = await single.take_over(session, settings, name, before, True)
            await _commit_and_launch(ctx, launch, session, taken)
        for name in waiting_down:
            taken = await single.take_over(session, settings, name, before, False)
            await _commit_and_launch(ctx, launch, session, taken)
        for record_id in failed:
            found = await continuation.retry_failed(session, settings, record_id, now, before)
            await _commit_and_launch(ctx, launch, session, [found] if found else None)
        await _missing_copies(ctx, launch, session, before)
        await _place(ctx, session, waiting)
    return declared


async def _commit_and_launch(
    ctx: AppContext, launch: Launch, session: AsyncSession, continuations: list[Continuation] | None
) -> None:
    """Commit one unit of work (None: it lost a race or had nothing to do, so roll it back), then ask
    the agents to start its records, one launch per tag (the agent is told the tag with each)."""
    if continuations is None:
        await session.rollback()
        return
    await session.commit()
    for tag_name in {c.tag_name for c in continuations}:
        plans = [(c.record, c.source, c.agent) for c in continuations if c.tag_name == tag_name]
        await launch(ctx, session, tag_name, plans)


async def _missing_copies(ctx: AppContext, launch: Launch, session: AsyncSession, before: datetime) -> None:
    missing = [r.id for r in await records_data.missing_second_copies(session)]
    if not missing:
        await session.rollback()
        return
    where = await room(session, ctx.settings, "", before)
    for record_id in missing:
        found = await dual.place_missing_copy(session, where, record_id, utcnow())
        await _commit_and_launch(ctx, launch, session, [found] if found else None)
        if found:
            where.take(found.agent)


async def _place(ctx: AppContext, session: AsyncSession, waiting: Waiting | None) -> None:
    """Unplaced sources to agents, unless agents are still joining (then a little later)."""
    settings = ctx.settings
    if not await agents_data.any_unplaced(session):
        await session.rollback()
        if waiting is not None:
            waiting.since = None
        return
    if waiting is not None and settings.placement_settle_s > 0:
        joined = utcnow() - timedelta(seconds=settings.placement_settle_s)
        joining = any(
            a.up_since_utc is not None and a.up_since_utc > joined
            for a in await online_agents(session, settings)
        )
        waiting.since = waiting.since or time.monotonic()
        if joining and time.monotonic() - waiting.since < SETTLE_BOUND * settings.placement_settle_s:
            await session.rollback()
            return
    placed = await single.place_unplaced(session, settings)
    await session.commit()
    if waiting is not None:
        waiting.since = None
    if placed:
        log.info("placed %d sources", placed)
