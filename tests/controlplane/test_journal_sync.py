"""Putting back what a journal holds, on SQLite and PostgreSQL: two replicas taking the same page at
once insert each record, its tag and its source once; a record already known is left to the
heartbeat unless the database still has it running and the journal has its end; deleted records and
other agents' records are not touched."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.journal_sync import take
from controlplane.models import Record, Source, Tag
from shared.enums import RecordStatus
from shared.rpc import agent_pb2 as pb

pytestmark = pytest.mark.anyio


def entry(
    status: int = pb.RECORD_STATUS_COMPLETED, tag: str = "night", source_id: int = 4
) -> pb.JournalRecord:
    rid = str(uuid.uuid4())
    return pb.JournalRecord(
        state=pb.RecordState(
            record_id=rid,
            tag_name=tag,
            source_id=source_id,
            status=status,
            begin_unix=1_765_000_000.0,
            end_unix=1_765_000_060.0 if status == pb.RECORD_STATUS_COMPLETED else 0.0,
            location=f"gate:{tag}/{source_id}/{rid}.mp4",
            hash_md5="0" * 32 if status == pb.RECORD_STATUS_COMPLETED else "",
            size_bytes=1000,
            duration_s=60.0,
            gaps=[
                pb.Gap(
                    start_unix=1_765_000_010.0,
                    end_unix=1_765_000_012.0,
                    reason="camera",
                    detail="Connection refused",
                )
            ],
            updated_unix=1_765_000_061.0,
        ),
        model=pb.SOURCE_MODEL_RTSP,
        uri_rtsp="rtsp://admin@cam.example/s",
    )


async def take_once(
    sessions: async_sessionmaker[AsyncSession], agent: str, page: list[pb.JournalRecord]
) -> int:
    async with sessions() as session:
        done = await take(session, agent, page)
        await session.commit()
        return done


async def test_two_replicas_taking_one_page_put_each_record_back_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    page = [entry() for _ in range(20)] + [entry(pb.RECORD_STATUS_DELETED)]
    counts = await asyncio.gather(take_once(sessions, "gate", page), take_once(sessions, "gate", page))
    assert sum(counts) == 20
    async with sessions() as session:
        records = (await session.exec(select(Record))).all()
        tags = (await session.exec(select(Tag))).all()
        sources = (await session.exec(select(Source))).all()
    assert len(records) == 20 and {r.id for r in records} == {e.state.record_id for e in page[:20]}
    assert [t.name for t in tags] == ["night"]
    assert [(s.id, s.uri_rtsp, s.agent_name) for s in sources] == [(4, "rtsp://admin@cam.example/s", "gate")]
    one = records[0]
    assert one.status == RecordStatus.COMPLETED and one.hash_md5 == "0" * 32 and one.recovered_utc is not None
    assert one.agent_name == "gate" and one.source_id == 4 and one.tag_id == tags[0].id
    assert one.gaps == [  # with its cause, which the agent's journal kept
        {
            "start_utc": "2025-12-06T05:46:50+00:00",
            "end_utc": "2025-12-06T05:46:52+00:00",
            "reason": "camera",
            "detail": "Connection refused",
        }
    ]
    # Read again (the next pass): nothing more.
    assert await take_once(sessions, "gate", page) == 0


async def test_a_running_record_gets_its_end_only_from_its_own_agent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    running, elsewhere = entry(pb.RECORD_STATUS_RECORDING), entry(pb.RECORD_STATUS_RECORDING)
    await take_once(sessions, "gate", [running, elsewhere])
    ended, ended_elsewhere = pb.JournalRecord(), pb.JournalRecord()
    ended.CopyFrom(running)
    ended_elsewhere.CopyFrom(elsewhere)
    for e in (ended, ended_elsewhere):
        e.state.status, e.state.end_unix, e.state.hash_md5 = (
            pb.RECORD_STATUS_COMPLETED,
            1_765_000_090.0,
            "f" * 32,
        )
    assert await take_once(sessions, "gate", [ended]) == 0
    assert await take_once(sessions, "dock", [ended_elsewhere]) == 0  # not the agent that holds it
    async with sessions() as session:
        rows = {r.id: r for r in (await session.exec(select(Record))).all()}
    assert rows[running.state.record_id].status == RecordStatus.COMPLETED
    assert rows[running.state.record_id].hash_md5 == "f" * 32
    assert rows[elsewhere.state.record_id].status == RecordStatus.RECORDING


async def test_a_source_id_that_names_another_camera_now_gets_a_source_of_its_own(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        session.add(Source(id=4, model="Source", uri_rtsp="rtsp://other.example/x", description="new"))
        await session.commit()
    page = [entry(), entry()]
    assert await take_once(sessions, "gate", page) == 2
    async with sessions() as session:
        sources = (await session.exec(select(Source).order_by(col(Source.id)))).all()
        records = (await session.exec(select(Record))).all()
    by_description = {s.description: s for s in sources}
    assert by_description.keys() == {"new", "recovered from the journal of agent gate (source 4)"}
    assert by_description["new"].id == 4  # the camera that holds the id now keeps it
    assert {r.source_id for r in records} == {
        by_description["recovered from the journal of agent gate (source 4)"].id
    }
