"""Agents as the API shows them, which agent serves a source or a record, and revocation (liveness is
controlplane.liveness, the heartbeat exchange services.heartbeats, placement controlplane.placement)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import agents as agents_data
from controlplane.data import records as records_data
from controlplane.data import sources as sources_data
from controlplane.db import utcnow
from controlplane.errors import (
    AgentUnavailableError,
    NotFoundError,
)
from controlplane.liveness import is_online, online_agents
from controlplane.models import Agent, Record, Source
from controlplane.models.agent import AgentPublic
from controlplane.placement.single import place_unplaced
from controlplane.settings import Settings
from shared.enums import AgentState, RecordStatus

log = logging.getLogger(__name__)


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
    """Place what is unplaced (a request that needs an agent now does not wait for the placement
    loop), then read back where each of `sources` went: the loop of any replica may have placed one
    since this request loaded it, and the placing pass only sees rows still unplaced."""
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
