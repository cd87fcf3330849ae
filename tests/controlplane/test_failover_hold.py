"""No failover storm, on SQLite and PostgreSQL: the failover check of a replica declares no agent down
when its own loop stalled (the silence may be its own), nor when most agents went silent together
(suspect the control plane or the network); one silent agent among many is still declared down.
The rows are written as heartbeats leave them; the check is the failover loop's own."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.agents.pool import AgentPool
from controlplane.context import AppContext
from controlplane.db import utcnow
from controlplane.live_relay import LiveRelay
from controlplane.loop_lag import LoopLag
from controlplane.models import Agent
from controlplane.placement import loop as placement_loop
from controlplane.services.recording import launch
from controlplane.settings import Settings

pytestmark = pytest.mark.anyio


async def _agents(sessions: async_sessionmaker[AsyncSession], beating: int, silent: int) -> None:
    now = utcnow()
    async with sessions() as session:
        for n in range(beating + silent):
            seen = now if n < beating else now - timedelta(seconds=12)
            session.add(Agent(name=f"a{n}", address="127.0.0.1:1", site="A", capacity=4, last_seen_utc=seen))
        await session.commit()


def _ctx(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> AppContext:
    return AppContext(
        settings=settings,
        engine=None,  # type: ignore[arg-type] - the check uses sessions only
        sessions=sessions,
        agents=AgentPool(lambda _name: None, 1.0),
        live=LiveRelay(frame_timeout_s=1.0),
    )


def _held(ctx: AppContext, reason: str) -> float:
    return ctx.metrics.registry.get_sample_value("videorec_failover_held_total", {"reason": reason}) or 0.0


async def _down(sessions: async_sessionmaker[AsyncSession]) -> set[str]:
    async with sessions() as session:
        return {a.name for a in await _all(session) if a.down_utc is not None}


async def _all(session: AsyncSession) -> list[Agent]:
    return list((await session.exec(select(Agent))).all())


@pytest.mark.parametrize(
    ("beating", "silent", "down", "held"),
    [
        (2, 4, set(), 1),  # 4 of 6 agents quiet together: held, and counted
        (5, 1, {"a5"}, 0),  # one silent among many: declared down
    ],
)
async def test_most_agents_silent_at_once_hold_failover_and_one_among_many_does_not(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    beating: int,
    silent: int,
    down: set[str],
    held: int,
) -> None:
    await _agents(sessions, beating=beating, silent=silent)
    ctx = _ctx(settings, sessions)
    assert await placement_loop.check_once(ctx, launch) == len(down)
    assert await _down(sessions) == down and _held(ctx, "many_silent") == held


async def test_a_replica_whose_own_loop_stalled_declares_nobody_down(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _agents(sessions, beating=5, silent=1)
    ctx = _ctx(settings, sessions)
    ctx.lag.note(settings.failover_hold_lag_s + 2.0)  # as the monitor notes a stall of the loop
    assert await placement_loop.check_once(ctx, launch) == 0
    assert await _down(sessions) == set() and _held(ctx, "late") == 1


async def test_two_agents_of_a_small_site_fail_over_one_by_one(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Below failover_hold_min_agents each silence counts: half of two agents is one agent."""
    await _agents(sessions, beating=1, silent=1)
    assert await placement_loop.check_once(_ctx(settings, sessions), launch) == 1


async def test_the_monitor_notes_a_stall_of_the_loop_and_forgets_it_after_the_window() -> None:
    lag = LoopLag(tick_s=0.01)
    monitor = asyncio.create_task(lag.run())
    try:
        await asyncio.sleep(0.05)
        time.sleep(1.0)  # the loop blocked, as by a slow synchronous call
        await asyncio.sleep(0.05)
        assert 0.9 <= lag.worst_since(10) < 5.0
        assert lag.worst_since(10, now=time.monotonic() + 60) == 0.0  # out of the window: forgotten
    finally:
        monitor.cancel()


async def test_agents_late_together_hold_failover_for_the_first_one_silent(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """An overloaded replica's queue makes agents late a few at a time: when the first crosses
    failover_after_s, most others are already two beats late, and that is what holds."""
    await _agents(sessions, beating=2, silent=1)  # a0, a1 beating; a2 silent
    now = utcnow()
    async with sessions() as session:
        for n in range(3, 6):  # two beats late, not yet silent
            session.add(
                Agent(
                    name=f"a{n}",
                    address="127.0.0.1:1",
                    site="A",
                    capacity=4,
                    last_seen_utc=now - timedelta(seconds=settings.heartbeat_interval_s * 2 + 0.5),
                )
            )
        await session.commit()
    ctx = _ctx(settings, sessions)
    assert settings.heartbeat_interval_s * 2 + 0.5 < settings.failover_after_s
    assert await placement_loop.check_once(ctx, launch) == 0
    assert await _down(sessions) == set() and _held(ctx, "many_silent") == 1
