"""Agents: their liveness, where each source is recorded, and revocation (the heartbeat exchange is services.heartbeats)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import agents as agents_data
from controlplane.data import records as records_data
from controlplane.data import sources as sources_data
from controlplane.db import utcnow
from controlplane.errors import (
    AgentUnavailableError,
    NotFoundError,
)
from controlplane.models import Agent, Record, Source
from controlplane.models.agent import AgentPublic
from controlplane.settings import Settings
from shared.enums import AgentState, RecordStatus

log = logging.getLogger(__name__)


def is_online(agent: Agent, settings: Settings) -> bool:
    return seen_online(agent.last_seen_utc, agent.revoked_utc, settings)


def seen_online(last_seen_utc: datetime | None, revoked_utc: datetime | None, settings: Settings) -> bool:
    # Liveness is derived from the last heartbeat, so no loop (and no replica) has to flip a flag.
    if last_seen_utc is None or revoked_utc is not None:
        return False
    return utcnow() - last_seen_utc <= timedelta(seconds=settings.offline_after_s())


def placeable(agent: Agent, settings: Settings) -> bool:
    """Online, and not declared down, or back from that for `failover_stable_s`: an agent that comes
    and goes would otherwise draw sources back and lose them again."""
    if not is_online(agent, settings):
        return False
    if agent.down_utc is None:
        return True
    back = agent.up_since_utc
    return (
        back is not None
        and back > agent.down_utc
        and utcnow() - back >= timedelta(seconds=settings.failover_stable_s)
    )


def steadiest(agents: Sequence[Agent], settings: Settings) -> list[Agent]:
    """Of online `agents`, the placeable ones; when none is, all of them.

    Anti-flapping chooses between agents: it must never leave a source with no agent while an online
    one exists (one agent restarted for an upgrade is back long before it is "stable")."""
    online = [a for a in agents if is_online(a, settings)]
    stable = [a for a in online if placeable(a, settings)]
    return stable or online


def public(agent: Agent, settings: Settings) -> AgentPublic:
    return AgentPublic(
        name=agent.name,
        state=AgentState.ONLINE if is_online(agent, settings) else AgentState.OFFLINE,
        address=agent.address,
        site=agent.site,
        site_bound=agent.site_bound,
        version=agent.version,
        capacity=agent.capacity,
        active_records=agent.active_records,
        disk_free_bytes=agent.disk_free_bytes,
        disk_total_bytes=agent.disk_total_bytes,
        disk_reserve_bytes=agent.disk_reserve_bytes,
        pausing_for_space=agent.paused_records > 0,
        created_utc=agent.created_utc,
        last_seen_utc=agent.last_seen_utc,
        revoked=agent.revoked_utc is not None,
        down_utc=agent.down_utc,
        up_since_utc=agent.up_since_utc,
    )


async def place_unplaced(session: AsyncSession, settings: Settings) -> None:
    """Give every source that names no agent to the online agent of its site with the fewest sources.

    Each placement is a conditional UPDATE, so two replicas placing at once cannot give one source to
    two agents: the loser's write matches no row, and it reads the winner's choice back. Once placed,
    a source stays where it is: its files and its live reader are there."""
    unplaced = await agents_data.unplaced_sources(session)
    if not unplaced:
        return
    online = await online_agents(session, settings)
    if not online:
        return
    counts = await agents_data.source_counts(session)
    for source in unplaced:
        assert source.id is not None
        of_site = steadiest([a for a in online if source.site is None or a.site == source.site], settings)
        if not of_site:
            continue  # no agent of its site yet: placed when one joins
        target = min(of_site, key=lambda a: (counts.get(a.name, 0), a.name))
        if await agents_data.place(session, source.id, target.name):
            counts[target.name] = counts.get(target.name, 0) + 1
        await session.refresh(source, ["agent_name"])


async def online_agents(session: AsyncSession, settings: Settings) -> list[Agent]:
    since = utcnow() - timedelta(seconds=settings.offline_after_s())
    return list(await agents_data.seen_since(session, since))


async def agent_for_source(session: AsyncSession, settings: Settings, source_id: int) -> tuple[Source, Agent]:
    """The source and the online agent that serves it, or a 503 that says which agent is missing."""
    source = await sources_data.get(session, source_id)
    if source.agent_name is None:
        await _place_and_reread(session, settings, [source])
    agent = await agents_data.get(session, source.agent_name) if source.agent_name else None
    return source, serving_agent(source, agent, settings)


async def agents_for_sources(
    session: AsyncSession, settings: Settings, sources: Sequence[Source]
) -> dict[int, Agent | AgentUnavailableError]:
    """agent_for_source for a whole group at once: one placement pass, one read of the agents."""
    if any(s.agent_name is None for s in sources):
        await _place_and_reread(session, settings, sources)
    agents = {a.name: a for a in await agents_data.list_all(session)}
    result: dict[int, Agent | AgentUnavailableError] = {}
    for source in sources:
        assert source.id is not None
        try:
            result[source.id] = serving_agent(source, agents.get(source.agent_name or ""), settings)
        except AgentUnavailableError as exc:
            result[source.id] = exc
    return result


async def _place_and_reread(session: AsyncSession, settings: Settings, sources: Sequence[Source]) -> None:
    """Place what is unplaced, then read back where each of `sources` went: a heartbeat may have
    placed one since this request loaded it, and the placing pass only sees rows still unplaced."""
    await place_unplaced(session, settings)
    for source in sources:
        if source.agent_name is None:
            await session.refresh(source, ["agent_name"])


def serving_agent(source: Source, agent: Agent | None, settings: Settings) -> Agent:
    if source.agent_name is None:
        raise AgentUnavailableError(f"no online agent to serve source {source.id}")
    if agent is None:
        raise AgentUnavailableError(f"agent {source.agent_name} of source {source.id} has never connected")
    if agent.revoked_utc is not None:
        raise AgentUnavailableError(f"agent {agent.name} of source {source.id} is revoked")
    if not is_online(agent, settings):
        raise AgentUnavailableError(f"agent {agent.name} of source {source.id} is offline")
    return agent


async def agent_for_record(session: AsyncSession, settings: Settings, record: Record) -> Agent:
    """The online agent holding a record's file, or a 503 naming it."""
    if not record.agent_name or not record.location:
        raise NotFoundError("file of record", record.id)
    agent = await agents_data.get(session, record.agent_name)
    if agent is None or not is_online(agent, settings):
        raise AgentUnavailableError(f"agent {record.agent_name} holding record {record.id} is offline")
    return agent


async def revoke(session: AsyncSession, name: str) -> Agent:
    """Retire an agent's identity for good; what it served goes elsewhere. Any name can be revoked,
    one that never connected too: its token may have leaked before its host was ever started."""
    agent = await agents_data.get(session, name)
    if agent is None:
        now = utcnow()
        # Kept as a row like any other, so that every replica refuses its first heartbeat.
        agent = await agents_data.upsert(
            session, Agent(name=name, address="", created_utc=now, revoked_utc=now)
        )
        log.warning("agent %s revoked before it ever connected", name)
    if agent.revoked_utc is None:
        agent.revoked_utc = utcnow()
        moved = await agents_data.unplace_sources_of(session, name)
        for row in await records_data.active_on_agent(session, name):
            row.status = RecordStatus.INTERRUPTED
            row.error = f"agent {name} was revoked"
        log.warning("agent %s revoked; %d sources will be placed again", name, moved)
        await session.flush()
    return agent


async def any_online_agent(session: AsyncSession, settings: Settings) -> Agent:
    agents = await online_agents(session, settings)
    if not agents:
        raise AgentUnavailableError("no agent is online")
    return agents[0]
