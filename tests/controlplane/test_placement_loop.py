"""Placement without heartbeats, on SQLite and PostgreSQL: a source added is placed by the loop
while no beat carries anything, and two replicas running the loop at once place each source once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.agents.pool import AgentPool
from controlplane.app import create_app
from controlplane.context import AppContext
from controlplane.db import make_engine, make_sessionmaker, utcnow
from controlplane.live_relay import LiveRelay
from controlplane.models import Agent, Source
from controlplane.placement import loop as placement_loop
from controlplane.placement import single
from controlplane.services.recording import launch
from controlplane.settings import Settings
from shared.enums import SourceModel
from shared.heartbeat import HEARTBEAT_PATH
from tests.conftest import make_settings
from videorec_testing.wait import wait_until

TOKEN = "placement-test-token"


def test_a_source_added_is_placed_by_the_loop_with_no_heartbeat_carrying_it(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(
        tmp_path, database_url, agent_token=TOKEN, failover_after_s=600.0, agent_offline_after_s=600.0
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as api:
        body = {"name": "a1", "address": "127.0.0.1:40001", "capacity": 8}
        first = api.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert first.status_code == 200 and first.json()["sources"] == []
        added = api.post("/api/v1/source", json={"uri_rtsp": "rtsp://cam.example/1"}).json()
        assert added["agent"] is None
        # No beat from here on: the loop alone places it (once a1, which just joined, has settled).
        wait_until(
            lambda: api.get(f"/api/v1/source/{added['id']}").json()["agent"] == "a1",
            20,
            interval=0.2,
            what="placed by the loop",
        )


def _ctx(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> AppContext:
    return AppContext(
        settings=settings,
        engine=None,  # type: ignore[arg-type] - the loop uses sessions only
        sessions=sessions,
        agents=AgentPool(lambda _name: None, 1.0),
        live=LiveRelay(frame_timeout_s=1.0),
    )


async def _fleet(sessions: async_sessionmaker[AsyncSession], agents: int, sources: int) -> None:
    now = utcnow()
    async with sessions() as session:
        for n in range(agents):
            session.add(
                Agent(
                    name=f"a{n}",
                    address="127.0.0.1:1",
                    capacity=100,
                    last_seen_utc=now,
                    up_since_utc=now - timedelta(hours=1),
                )
            )
        session.add_all(Source(model=SourceModel.SOURCE, uri_rtsp=f"rtsp://cam/{n}") for n in range(sources))
        await session.commit()


async def _placement(sessions: async_sessionmaker[AsyncSession]) -> dict[int, str | None]:
    async with sessions() as session:
        return {s.id or 0: s.agent_name for s in (await session.exec(select(Source))).all()}


@pytest.mark.anyio
async def test_two_replicas_placing_at_once_place_each_source_once(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _fleet(sessions, agents=6, sources=300)
    # A second replica: its own engine, so that on PostgreSQL the two really write at once.
    other_engine = make_engine(settings.resolved_database_url())
    other = make_sessionmaker(other_engine)
    try:

        async def place(maker: async_sessionmaker[AsyncSession]) -> int:
            async with maker() as session:
                placed = await single.place_unplaced(session, settings)
                await session.commit()
                return placed

        counts = await asyncio.gather(place(sessions), place(other))
        where = await _placement(sessions)
        assert sum(counts) == 300, counts  # each placement written once: the loser's UPDATE matched nothing
        assert all(where.values()) and len(set(where.values())) == 6

        # The whole loop of both replicas at once: what they add next is placed once too, and nothing
        # placed before moves.
        async with sessions() as session:
            session.add_all(Source(model=SourceModel.SOURCE, uri_rtsp=f"rtsp://new/{n}") for n in range(60))
            await session.commit()
        await asyncio.gather(
            placement_loop.check_once(_ctx(settings, sessions), launch),
            placement_loop.check_once(_ctx(settings, other), launch),
        )
        after = await _placement(sessions)
        assert all(after.values()) and len(after) == 360
        assert {k: v for k, v in after.items() if k in where} == where
        load = Counter(after.values())
        assert max(load.values()) - min(load.values()) <= 60, load  # spread, not all on one agent
    finally:
        await other_engine.dispose()
