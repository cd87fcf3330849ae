"""Failover: an agent silent for `failover_after_s` is declared down, and what it recorded goes on
on another agent of its site.

Every replica runs this loop; the database decides. Declaring an agent down is one conditional
UPDATE that only one replica wins per outage, and everything that follows from it (sources moved,
records handed over, continuations created) is written in that same transaction, so a replica that
dies half-way leaves nothing behind and the next one decides again."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane import failover_dual
from controlplane.context import AppContext
from controlplane.data import agents as agents_data
from controlplane.data import records as records_data
from controlplane.data import sources as sources_data
from controlplane.data import tags as tags_data
from controlplane.db import utcnow
from controlplane.models import Agent, Record, Source
from controlplane.services import agents as agents_service
from controlplane.services.recording import launch
from controlplane.settings import Settings
from shared.enums import GapReason, RecordStatus

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3  # continuations of one record, the first included


class Room:
    """The agents a down agent's work may go to, with what each already records."""

    def __init__(self, targets: list[Agent], stable: set[str] | None = None) -> None:
        self.targets = targets
        self.load = {a.name: a.active_records for a in targets}
        # Agents back from being down for less than failover_stable_s are chosen only when no steady
        # agent of the site has room: a recording lost for want of a "stable" agent is lost for good.
        self.stable = {a.name for a in targets} if stable is None else stable

    def has(self, name: str) -> bool:
        return name in self.load

    def pick(self, site: str, *besides: str | None) -> Agent | None:
        """The least loaded agent of `site` with room, other than `besides`."""
        fits = [
            a
            for a in self.targets
            if a.site == site and a.name not in besides and self.load[a.name] < max(a.capacity, 1)
        ]
        return (
            min(fits, key=lambda a: (a.name not in self.stable, self.load[a.name], a.name)) if fits else None
        )

    def take(self, agent: Agent) -> None:
        self.load[agent.name] += 1


@dataclass
class Continuation:
    record: Record  # the new record, on `agent`
    source: Source
    agent: Agent
    tag_name: str


async def run(ctx: AppContext) -> None:
    """The background loop of one replica; it looks several times per `failover_after_s`, so a dead
    agent is declared down at most a fraction of that late."""
    poll = min(1.0, ctx.settings.failover_after_s / 5)
    while True:
        try:
            await check_once(ctx)
        except Exception:  # a database away for a while must not end the loop
            log.exception("failover check")
        await asyncio.sleep(poll)


async def check_once(ctx: AppContext) -> int:
    """Declare every newly silent agent down and continue its records, and try again for records of
    agents still down that found no agent to continue on before; returns how many it declared."""
    settings = ctx.settings
    declared = 0
    async with ctx.sessions() as session:
        now = utcnow()
        before = now - timedelta(seconds=settings.failover_after_s)
        silent = [a.name for a in await agents_data.silent_since(session, before)]
        if silent and (held := await _hold(ctx, session, silent, now)) is not None:
            ctx.metrics.failover_held.labels(held).inc()
            silent = []
        retry_since = now - timedelta(seconds=settings.failover_retry_s)
        # Bounded: an agent down for longer than failover_retry_s is not looked at again.
        waiting = [a.name for a in await agents_data.still_down(session, retry_since) if a.name not in silent]
        await session.rollback()
        for name in silent:
            if not await agents_data.declare_down(session, name, now, before):
                await session.rollback()  # another replica (or the agent's own heartbeat) got there first
                continue
            declared += 1
            await _launch(ctx, session, await _take_over(session, settings, name, now, before, first=True))
        for name in waiting:
            await _launch(ctx, session, await _take_over(session, settings, name, now, before, first=False))
        await _launch(ctx, session, await _retry_failed(session, settings, now, before, retry_since))
        placed = await failover_dual.place_missing_copies(
            session, lambda: _room(session, settings, "", now, before), now
        )
        await _launch(ctx, session, [Continuation(*p) for p in placed])
    return declared


async def _hold(ctx: AppContext, session: AsyncSession, silent: list[str], now: datetime) -> str | None:
    """Why this check must declare none of `silent` down, or None. A replica that was itself late
    cannot tell a silent agent from a heartbeat that waited in its own queue; and when most agents
    go quiet together, the likelier fault is this side's (the control plane, its database, the
    network): failing all of them over would move every recording and load it further."""
    settings = ctx.settings
    window = settings.failover_after_s + settings.heartbeat_interval_s
    stalled = ctx.lag.worst_since(window)
    if stalled > settings.failover_hold_lag_s:
        log.warning(
            "failover held: this replica's loop stalled %.1f s within the last %.0f s; %d agents silent",
            stalled,
            window,
            len(silent),
        )
        return "late"
    # Heard within a few failover periods: the agents whose silence now is news. Late: two beats
    # missed. An overloaded replica's queue makes agents late a few at a time, so the share counts
    # the late ones, not only those already silent for failover_after_s.
    lately = await agents_data.seen_since(session, now - timedelta(seconds=4 * window))
    overdue = now - timedelta(seconds=2 * settings.heartbeat_interval_s)
    late = [a.name for a in lately if a.last_seen_utc is not None and a.last_seen_utc < overdue]
    await session.rollback()  # read only: what follows writes in transactions of its own
    if len(lately) < settings.failover_hold_min_agents:
        return None
    if len(late) > 1 and len(late) > settings.failover_hold_share * len(lately):
        log.warning(
            "failover held: %d of %d agents are late or silent at once (%s...): suspect the control "
            "plane or the network before the agents",
            len(late),
            len(lately),
            ", ".join(silent[:5]),
        )
        return "many_silent"
    return None


async def _launch(ctx: AppContext, session: AsyncSession, continuations: list[Continuation]) -> None:
    # One launch per tag: the agent is told the tag name with each record.
    for tag_name in {c.tag_name for c in continuations}:
        plans = [(c.record, c.source, c.agent) for c in continuations if c.tag_name == tag_name]
        await launch(ctx, session, tag_name, plans)


async def _take_over(
    session: AsyncSession, settings: Settings, name: str, now: datetime, before: datetime, first: bool
) -> list[Continuation]:
    """In one transaction with the declaration (`first`) or on a later check: move the down agent's
    sources and continue its records that are still `recording`. Every write is conditional, so two
    replicas doing this at once continue each record once."""
    down = await agents_data.get(session, name)
    assert down is not None
    await session.refresh(down)
    if not first and not await records_data.recording_on_agent(session, name):
        await session.rollback()
        return []
    room = await _room(session, settings, name, now, before)
    moved: dict[int, Agent] = {}
    for source in await agents_data.sources_of(session, name):
        assert source.id is not None
        if source.agent_pinned or not source.failover:
            continue
        site = source.site or down.site
        second = source.second_agent_name if source.redundancy >= 2 else None
        if second is not None and room.has(second):
            await failover_dual.promote(session, room, source, down, second, moved)
            continue
        target = room.pick(site, second)
        if target is None:
            log.log(
                logging.WARNING if first else logging.DEBUG,
                "source %s of down agent %s: no agent of site %s can take it",
                source.id,
                name,
                site,
            )
            continue
        if await agents_data.move(session, source.id, name, target.name):
            room.take(target)
            moved[source.id] = target
    await failover_dual.replace_lost_copies(session, room, down, moved)
    continuations = await _continue_records(session, down, moved)
    await session.commit()
    if first or continuations:
        log.warning(
            "agent %s %s (silent since %s): %d sources moved, %d records continued",
            name,
            "declared down" if first else "still down",
            down.last_seen_utc,
            len(moved),
            len(continuations),
        )
    return continuations


async def _room(
    session: AsyncSession, settings: Settings, name: str, now: datetime, before: datetime
) -> Room:
    targets = [
        a
        for a in await agents_service.online_agents(session, settings)
        # Another agent as silent as this one is no refuge, even before it is declared down too.
        if a.name != name and agents_service.is_online(a, settings) and (a.last_seen_utc or now) >= before
    ]
    return Room(targets, {a.name for a in targets if agents_service.placeable(a, settings)})


async def _retry_failed(
    session: AsyncSession, settings: Settings, now: datetime, before: datetime, since: datetime
) -> list[Continuation]:
    """A continuation that failed on its agent (its ffmpeg got no video, say) is continued in turn, on
    another agent of the site when there is one, at most MAX_ATTEMPTS times per record, while its tag
    is not stopped. The `continues` key, unique, lets one replica win each attempt."""
    result = []
    for failed in await records_data.failed_continuations(session, since):
        # Back along the chain to the record that was lost with its agent; each failure on the way counts.
        attempts, lost = 1, await records_data.by_ids(session, {failed.continues or ""})
        root = lost.get(failed.continues or "")
        while root is not None and root.continues and root.status == RecordStatus.FAILED:
            attempts += 1
            root = (await records_data.by_ids(session, {root.continues})).get(root.continues)
        if attempts >= MAX_ATTEMPTS or failed.source_id is None or root is None:
            continue
        tag = await tags_data.by_id(session, failed.tag_id)
        await session.refresh(tag)
        if tag.stopped_utc is not None and tag.stopped_utc >= failed.created_utc:
            continue  # stopped since: nothing to continue
        source = await sources_data.get(session, failed.source_id)
        down = await agents_data.get(session, root.agent_name or "")
        if source.agent_pinned or not source.failover or down is None:
            continue
        room = await _room(session, settings, down.name, now, before)
        site = source.site or down.site
        # A dual source's lost copy never goes to the agent of its other copy.
        second_copy = source.redundancy >= 2 and source.agent_name != failed.agent_name
        keep_off = source.agent_name if second_copy else None
        # Another agent than the one it failed on if there is one, else that one again.
        target = room.pick(site, failed.agent_name, keep_off) or room.pick(site, keep_off)
        if target is None or not await tags_data.claim_start(session, tag):
            await session.rollback()
            continue
        gaps = [g for g in failed.gaps if g.get("reason") == GapReason.FAILOVER.value]
        since_lost = gaps[0]["start_utc"] if gaps else (failed.created_utc or now).isoformat()
        new = failed.continuation(target.name, since_lost, utcnow())
        if not await records_data.add_continuation(session, new):
            await session.rollback()  # another replica continued it first
            continue
        if second_copy:
            await agents_data.place_second(session, source.id or 0, target.name, source.second_agent_name)
        elif failed.agent_name and source.agent_name == failed.agent_name:
            await agents_data.move(session, source.id or 0, failed.agent_name, target.name)
        await session.commit()
        log.warning(
            "record %s failed on %s (%s): continues as %s on %s, attempt %d",
            failed.id,
            failed.agent_name,
            failed.error,
            new.id,
            target.name,
            attempts + 1,
        )
        row = await records_data.get(session, new.id)
        result.append(Continuation(row, source, target, tag.name))
    return result


async def _continue_records(
    session: AsyncSession, down: Agent, moved: dict[int, Agent]
) -> list[Continuation]:
    rows = await records_data.recording_on_agent(session, down.name)
    sources = await sources_data.by_ids(session, {r.source_id for r in rows if r.source_id is not None})
    result = []
    for old in rows:
        target = moved.get(old.source_id or 0)
        if target is None:
            continue  # its source stays (failover off, pinned, no room): it waits for its agent
        tag = await tags_data.by_id(session, old.tag_id)
        await session.refresh(tag)
        # The tag's claim orders this against a concurrent stop of the tag (see recording.stop).
        if not await tags_data.claim_start(session, tag) or not await records_data.hand_over(session, old.id):
            log.info("record %s: not continued, its tag changed meanwhile", old.id)
            continue
        since = (down.last_seen_utc or utcnow()).isoformat()
        new = old.continuation(target.name, since, utcnow())
        await records_data.add(session, new)
        result.append(Continuation(new, sources[old.source_id or 0], target, tag.name))
        log.warning("record %s of agent %s continues as %s on %s", old.id, down.name, new.id, target.name)
    return result
