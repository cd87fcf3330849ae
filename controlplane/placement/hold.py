"""When a replica must declare nobody down: its own lateness, another replica's (written to the database),
or a mass silence is the likelier fault."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import agents as agents_data
from controlplane.data import replicas as replicas_data
from controlplane.loop_lag import LoopLag
from controlplane.settings import Settings

log = logging.getLogger(__name__)


def late_here(settings: Settings, lag: LoopLag) -> float | None:
    """How late this replica was within the window failover judges agents on (seconds; the queue
    bound when it shed heartbeats), or None when it kept time."""
    window = settings.failover_after_s + settings.heartbeat_interval_s
    stalled = lag.worst_since(window)
    if stalled > settings.failover_hold_lag_s:
        return stalled
    if lag.shed_since(window):
        return max(stalled, settings.heartbeat_shed_queue_s)
    return None


async def note_late(
    settings: Settings, lag: LoopLag, session: AsyncSession, replica: str, now: datetime
) -> None:
    """Tell every replica (through the database) that this one was late lately: its agents' silence
    may be its own, and another replica must not fail them over either."""
    if late_here(settings, lag) is not None:
        await replicas_data.note_late(session, replica, now)


async def hold(
    settings: Settings, lag: LoopLag, session: AsyncSession, silent: list[str], now: datetime
) -> str | None:
    """Why this check must declare none of `silent` down, or None. A replica that was itself late
    cannot tell a silent agent from a heartbeat that waited in its own queue; and when most agents
    go quiet together, the likelier fault is this side's (the control plane, its database, the
    network): failing all of them over would move every recording and load it further."""
    window = settings.failover_after_s + settings.heartbeat_interval_s
    stalled = late_here(settings, lag)
    if stalled is not None:
        log.warning(
            "failover held: this replica was %.1f s late (its loop stalled, a heartbeat waited or was "
            "shed) within the last %.0f s; %d agents silent",
            stalled,
            window,
            len(silent),
        )
        return "late"
    # Another replica late: agents beating to it may look silent here (the database is the referee).
    elsewhere = await replicas_data.last_late(session)
    if elsewhere is not None and elsewhere >= now - timedelta(seconds=window):
        log.warning(
            "failover held: a replica was late at %s (within the last %.0f s); %d agents silent",
            elsewhere.isoformat(timespec="seconds"),
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
