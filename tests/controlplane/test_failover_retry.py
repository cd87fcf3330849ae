"""A continuation that failed on its agent is continued in turn, on SQLite and PostgreSQL: on another
agent of the site when there is one, at most three continuations per lost record, never once its tag
was stopped. The rows are written here as a failover and an agent's report would leave them; the
check is the failover's own (recording a continuation for real is tests/e2e/test_failover.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import records as records_data
from controlplane.db import utcnow
from controlplane.models import Agent, Record, Source, Tag
from controlplane.placement import continuation
from controlplane.settings import Settings
from shared.enums import RecordStatus, SourceModel

pytestmark = pytest.mark.anyio


async def _lost_and_failed(sessions: async_sessionmaker[AsyncSession], agents: list[str]) -> tuple[str, str]:
    """c1 was declared down; its record was continued on c2, and that continuation failed there."""
    now = utcnow()
    async with sessions() as session:
        session.add(
            Agent(
                name="c1",
                address="127.0.0.1:1",
                site="C",
                capacity=4,
                last_seen_utc=now - timedelta(seconds=60),
                down_utc=now - timedelta(seconds=55),
            )
        )
        for name in agents:
            session.add(Agent(name=name, address="127.0.0.1:2", site="C", capacity=4, last_seen_utc=now))
        tag = Tag(name="t")
        source = Source(model=SourceModel.SOURCE, uri_rtsp="rtsp://cam.example/1", site="C", agent_name="c2")
        session.add_all([tag, source])
        await session.flush()
        assert tag.id is not None
        lost = Record(tag_id=tag.id, source_id=source.id, agent_name="c1", status=RecordStatus.STOPPING)
        session.add(lost)
        await session.flush()
        gap = {
            "start_utc": (now - timedelta(seconds=60)).isoformat(),
            "end_utc": now.isoformat(),
            "reason": "failover",
        }
        failed = Record(
            tag_id=tag.id,
            source_id=source.id,
            agent_name="c2",
            status=RecordStatus.FAILED,
            continues=lost.id,
            error="no video was received",
            gaps=[gap],
        )
        session.add(failed)
        await session.commit()
        return lost.id, failed.id


async def _retry(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> list[continuation.Continuation]:
    """As the placement loop retries: each failed continuation a transaction of its own."""
    now = utcnow()
    before = now - timedelta(seconds=settings.failover_after_s)
    found = []
    async with sessions() as session:
        since = now - timedelta(seconds=settings.failover_retry_s)
        for record_id in [r.id for r in await records_data.failed_continuations(session, since)]:
            again = await continuation.retry_failed(session, settings, record_id, now, before)
            if again is None:
                await session.rollback()
            else:
                await session.commit()
                found.append(again)
    return found


async def _fail(sessions: async_sessionmaker[AsyncSession], record_id: str) -> None:
    async with sessions() as session:
        row = await session.get(Record, record_id)
        assert row is not None
        row.status = RecordStatus.FAILED
        await session.commit()


async def test_a_failed_continuation_goes_to_another_agent_then_the_same_and_stops_after_three(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    lost_id, failed_id = await _lost_and_failed(sessions, ["c2", "c3"])
    (again,) = await _retry(settings, sessions)
    assert again.record.continues == failed_id and again.agent.name == "c3"  # not c2, where it failed
    assert again.record.gaps[0]["reason"] == "failover"
    assert again.record.gaps[0]["detail"] == "agent c1 was lost"  # the first agent, not where it failed
    assert again.record.gaps[0]["start_utc"].startswith(str((utcnow() - timedelta(seconds=60)).date()))
    assert await _retry(settings, sessions) == []  # continued once: nothing new until it fails too
    await _fail(sessions, again.record.id)
    (third,) = await _retry(settings, sessions)
    assert third.record.continues == again.record.id and third.agent.name == "c2"
    await _fail(sessions, third.record.id)
    assert await _retry(settings, sessions) == []  # three continuations of one lost record: no more
    async with sessions() as session:
        source = await session.get(Source, again.source.id)
        assert source is not None and source.agent_name == "c2"


async def test_with_one_agent_left_it_tries_that_one_again(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, failed_id = await _lost_and_failed(sessions, ["c2"])
    (again,) = await _retry(settings, sessions)
    assert again.record.continues == failed_id and again.agent.name == "c2"


async def test_a_stopped_tag_is_not_continued(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _lost_and_failed(sessions, ["c2", "c3"])
    async with sessions() as session:
        tag = await session.get(Tag, 1)
        assert tag is not None
        tag.stopped_utc = utcnow()
        await session.commit()
    assert await _retry(settings, sessions) == []
