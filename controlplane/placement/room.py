"""The room: which agents may take work now, and which of them takes the next piece of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.db import utcnow
from controlplane.liveness import is_online, online_agents
from controlplane.models import Agent
from controlplane.settings import Settings


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


async def room(session: AsyncSession, settings: Settings, besides: str, before: datetime) -> Room:
    """The online agents other than `besides`, heard since `before`: another agent as silent as a down
    one is no refuge, even before it is declared down too."""
    targets = [
        a
        for a in await online_agents(session, settings)
        if a.name != besides and is_online(a, settings) and (a.last_seen_utc or before) >= before
    ]
    return Room(targets, {a.name for a in targets if placeable(a, settings)})
