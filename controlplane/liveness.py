"""Whether an agent is online: derived from its last heartbeat, so that no loop (and no replica) has
to flip a flag."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import agents as agents_data
from controlplane.db import utcnow
from controlplane.models import Agent
from controlplane.settings import Settings


def is_online(agent: Agent, settings: Settings) -> bool:
    return seen_online(agent.last_seen_utc, agent.revoked_utc, settings)


def seen_online(last_seen_utc: datetime | None, revoked_utc: datetime | None, settings: Settings) -> bool:
    if last_seen_utc is None or revoked_utc is not None:
        return False
    return utcnow() - last_seen_utc <= timedelta(seconds=settings.offline_after_s())


async def online_agents(session: AsyncSession, settings: Settings) -> list[Agent]:
    since = utcnow() - timedelta(seconds=settings.offline_after_s())
    return list(await agents_data.seen_since(session, since))
