"""Dual recording: a source with `redundancy: 2` is recorded by two agents of its site at once, so
losing one agent loses no video (the other file has no gap).

The second agent is a placement like the first (`source.second_agent_name`, settled by a conditional
UPDATE that also refuses the first agent), kept while that agent is online, and chosen again at the
next start when it is not. Each copy is an ordinary record of the tag: listed, stopped, synced and
evicted like any other."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import agents as agents_data
from controlplane.data import records as records_data
from controlplane.errors import AgentUnavailableError
from controlplane.liveness import is_online
from controlplane.models import Agent, Record, Source
from controlplane.placement.room import steadiest
from controlplane.settings import Settings

log = logging.getLogger(__name__)


async def second_copies(
    session: AsyncSession,
    settings: Settings,
    tag_id: int,
    sources: Sequence[Source],
    serving: Mapping[int, Agent | AgentUnavailableError],
) -> list[tuple[Record, Source, Agent | AgentUnavailableError]]:
    """A second record, on a second agent, for each dual-recorded source of a starting tag. A copy
    with no agent to record it is returned with the reason (its record fails, the first records)."""
    dual = [s for s in sources if s.redundancy >= 2]
    if not dual:
        return []
    agents = {a.name: a for a in await agents_data.list_all(session)}
    load = await _load(session)
    result: list[tuple[Record, Source, Agent | AgentUnavailableError]] = []
    for source in dual:
        assert source.id is not None
        first = serving.get(source.id)
        site = source.site or (first.site if isinstance(first, Agent) else None)
        second = await _second_agent(session, settings, source, site, agents, load)
        result.append((Record(tag_id=tag_id, source_id=source.id), source, second))
    await records_data.add_all(session, [row for row, _, _ in result])
    return result


async def _second_agent(
    session: AsyncSession,
    settings: Settings,
    source: Source,
    site: str | None,
    agents: dict[str, Agent],
    load: dict[str, int],
) -> Agent | AgentUnavailableError:
    assert source.id is not None
    for _ in range(3):  # another replica placing it at once: read its choice back and check it
        current = agents.get(source.second_agent_name or "")
        if current is not None and current.name != source.agent_name and is_online(current, settings):
            return current
        fits = steadiest(
            [a for a in agents.values() if a.name != source.agent_name and (site is None or a.site == site)],
            settings,
        )
        if not fits:
            where = f"of site {site} " if site else ""
            return AgentUnavailableError(
                f"no second online agent {where}to record source {source.id} twice (redundancy 2)"
            )
        target = min(fits, key=lambda a: (load.get(a.name, 0), a.name))
        if await agents_data.place_second(session, source.id, target.name, source.second_agent_name):
            load[target.name] = load.get(target.name, 0) + 1
            source.second_agent_name = target.name
            log.info("source %s: second copy on agent %s", source.id, target.name)
            return target
        await session.refresh(source, ["agent_name", "second_agent_name"])
    return AgentUnavailableError(f"source {source.id}: its second agent kept changing")


async def _load(session: AsyncSession) -> dict[str, int]:
    """Sources each agent records, first and second copies alike."""
    load = await agents_data.source_counts(session)
    for name, count in (await agents_data.second_counts(session)).items():
        load[name] = load.get(name, 0) + count
    return load
