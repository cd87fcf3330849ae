"""A heartbeat that reports a record recording which the control plane has ended (an agent put back
from a copy of its storage taken while the record ran resumes it from its journal) is answered with a
stop for it, on SQLite and PostgreSQL; a record still running here, or another agent's, is not; the
ended record keeps its end."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import records as records_data
from controlplane.services.heartbeats import heartbeat
from controlplane.settings import Settings
from shared.enums import RecordStatus
from shared.heartbeat import HeartbeatIn, RecordReport
from shared.rpc import agent_pb2 as pb
from tests.controlplane.test_journal_sync import entry, take_once

pytestmark = pytest.mark.anyio


def resumed(e: pb.JournalRecord) -> RecordReport:
    """What the agent reports of the record once it resumed it: recording, no end."""
    state = e.state
    return RecordReport(
        record_id=state.record_id,
        source_id=state.source_id,
        status=RecordStatus.RECORDING,
        begin_unix=state.begin_unix,
        location=state.location,
        updated_unix=1_765_000_100.0,
    )


async def test_a_record_ended_here_that_the_agent_reports_recording_is_stopped(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    ended, failed, running = entry(), entry(), entry(pb.RECORD_STATUS_RECORDING)
    failed.state.status, failed.state.hash_md5 = pb.RECORD_STATUS_FAILED, ""
    elsewhere = entry()
    await take_once(sessions, "gate", [ended, failed, running])
    await take_once(sessions, "dock", [elsewhere])
    beat = HeartbeatIn(
        name="gate",
        address="127.0.0.1:40001",
        records=[resumed(e) for e in (ended, failed, running, elsewhere)],
    )
    async with sessions() as session:
        answer = await heartbeat(session, settings, beat)
        await session.commit()
    assert sorted(answer.stop_records) == sorted([ended.state.record_id, failed.state.record_id])
    async with sessions() as session:
        rows = await records_data.by_ids(session, {ended.state.record_id, running.state.record_id})
    assert rows[ended.state.record_id].status == RecordStatus.COMPLETED
    assert rows[ended.state.record_id].hash_md5 == "0" * 32
    assert rows[running.state.record_id].status == RecordStatus.RECORDING
