"""One agent per source: sources that name no agent are placed, and a down agent's sources move to
another agent of their site. Writes are conditional UPDATEs and only flushed: the loop (or the
request that needed a placement at once) commits."""

from __future__ import annotations

import heapq
import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import agents as agents_data
from controlplane.data import records as records_data
from controlplane.liveness import online_agents
from controlplane.models import Agent
from controlplane.placement import dual
from controlplane.placement.continuation import Continuation, continue_records
from controlplane.placement.room import room, steadiest
from controlplane.settings import Settings

log = logging.getLogger(__name__)


class _Least:
    """The least loaded of some agents, as sources are handed out (a heap: 50,000 sources over 1,000
    agents is a pass of milliseconds, not of minutes)."""

    def __init__(self, agents: list[Agent], counts: dict[str, int]) -> None:
        self._counts = counts
        self._heap = [(counts.get(a.name, 0), a.name) for a in agents]
        heapq.heapify(self._heap)

    def take(self) -> str:
        while True:
            count, name = heapq.heappop(self._heap)
            # Counts are shared by every site's heap: an entry made stale by another heap goes back.
            if count == self._counts.get(name, 0):
                self._counts[name] = count + 1
                heapq.heappush(self._heap, (count + 1, name))
                return name
            heapq.heappush(self._heap, (self._counts.get(name, 0), name))


async def place_unplaced(session: AsyncSession, settings: Settings) -> int:
    """Give every source that names no agent to the online agent of its site with the fewest sources;
    returns how many this call placed.

    One conditional UPDATE per agent, so two replicas placing at once cannot give one source to two
    agents: the loser's write matches no row. Once placed, a source stays where it is: its files and
    its live reader are there."""
    unplaced = await agents_data.unplaced(session)
    if not unplaced:
        return 0
    online = await online_agents(session, settings)
    if not online:
        return 0
    counts = await agents_data.source_counts(session)
    heaps: dict[str | None, _Least | None] = {}
    plan: dict[str, list[int]] = {}
    for source_id, site in unplaced:
        if site not in heaps:
            fits = steadiest([a for a in online if site is None or a.site == site], settings)
            heaps[site] = _Least(fits, counts) if fits else None
        least = heaps[site]
        if least is None:
            continue  # no agent of its site yet: placed when one joins
        plan.setdefault(least.take(), []).append(source_id)
    placed = 0
    for name, ids in plan.items():
        placed += await agents_data.place_many(session, ids, name)
    return placed


async def take_over(
    session: AsyncSession, settings: Settings, name: str, before: datetime, first: bool
) -> list[Continuation]:
    """With the declaration (`first`) or on a later check: move the down agent's sources and continue
    its records that are still `recording`. Every write is conditional, so two replicas doing this at
    once continue each record once."""
    down = await agents_data.get(session, name)
    assert down is not None
    await session.refresh(down)
    if not first and not await records_data.recording_on_agent(session, name):
        return []
    where = await room(session, settings, name, before)
    moved: dict[int, Agent] = {}
    for source in await agents_data.sources_of(session, name):
        assert source.id is not None
        if source.agent_pinned or not source.failover:
            continue
        site = source.site or down.site
        second = source.second_agent_name if source.redundancy >= 2 else None
        if second is not None and where.has(second):
            await dual.promote(session, where, source, down, second, moved)
            continue
        target = where.pick(site, second)
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
            where.take(target)
            moved[source.id] = target
    await dual.replace_lost_copies(session, where, down, moved)
    continuations = await continue_records(session, down, moved)
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
