"""The second placement of a dual-recorded source, on a real SQLite and a real PostgreSQL: the
database refuses the first agent, and two placements racing for one source leave one winner; and the
bound on failover retries."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import agents as agents_data
from controlplane.db import utcnow
from controlplane.models import Agent, Source
from shared.enums import SourceModel

pytestmark = pytest.mark.anyio


async def _source(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        row = Source(model=SourceModel.SOURCE, uri_rtsp="rtsp://cam.example/1", agent_name="a1", redundancy=2)
        session.add(row)
        await session.commit()
        assert row.id is not None
        return row.id


async def _place(sessions: async_sessionmaker[AsyncSession], source_id: int, agent: str) -> bool:
    async with sessions() as session:
        placed = await agents_data.place_second(session, source_id, agent, None)
        await session.commit()
        return placed


async def _second(sessions: async_sessionmaker[AsyncSession], source_id: int) -> str | None:
    async with sessions() as session:
        row = await session.get(Source, source_id)
        assert row is not None
        return row.second_agent_name


async def test_the_first_agent_is_never_the_second(sessions: async_sessionmaker[AsyncSession]):
    sid = await _source(sessions)
    assert not await _place(sessions, sid, "a1")
    assert await _second(sessions, sid) is None
    assert await _place(sessions, sid, "a2")
    assert await _second(sessions, sid) == "a2"


async def test_racing_placements_leave_one_second_agent(sessions: async_sessionmaker[AsyncSession]):
    sid = await _source(sessions)
    results = await asyncio.gather(*(_place(sessions, sid, f"a{n}") for n in range(2, 8)))
    assert sum(results) == 1
    winner = f"a{2 + results.index(True)}"
    assert await _second(sessions, sid) == winner
    async with sessions() as session:  # the survivor of a failover: a1 down, the second becomes first
        assert await agents_data.promote_second(session, sid, "a1", winner)
        assert not await agents_data.promote_second(session, sid, "a1", winner)  # once
        await session.commit()
        row = await session.get(Source, sid)
        assert row is not None
        await session.refresh(row)
        assert (row.agent_name, row.second_agent_name) == (winner, None)


async def test_failover_retries_look_only_at_agents_still_down_within_the_window(
    sessions: async_sessionmaker[AsyncSession],
):
    now = utcnow()
    rows = {
        "recent": (now - timedelta(seconds=30), now - timedelta(seconds=20)),  # (last seen, declared down)
        "old": (now - timedelta(seconds=900), now - timedelta(seconds=890)),  # past the window
        "back": (now - timedelta(seconds=1), now - timedelta(seconds=20)),  # heard from again since
        "never": (now - timedelta(seconds=30), None),  # not declared down
    }
    async with sessions() as session:
        for name, (seen, down) in rows.items():
            session.add(Agent(name=name, address="127.0.0.1:1", last_seen_utc=seen, down_utc=down))
        await session.commit()
        found = await agents_data.still_down(session, now - timedelta(seconds=300))
    assert [a.name for a in found] == ["recent"]
