"""StartRecords on the real servicer over real gRPC: one call starts many records, each answered on
its own once its ffmpeg has opened the camera (its file exists), a refused entry alone."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from agent.ffmpeg import process, spawn
from shared.rpc import agent_pb2 as pb
from shared.rpc import agent_pb2_grpc
from tests.agent.recording.support import duration_of, md5_of
from tests.agent.rpc.test_write_file import running_agent
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.net import free_port
from videorec_testing.wait import await_until

pytestmark = pytest.mark.anyio


@pytest.fixture
def cam() -> Iterator[RtspCamera]:
    camera = start_rtsp_camera()
    yield camera
    camera.stop()


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[agent_pb2_grpc.AgentStub]:
    async with running_agent(tmp_path) as stub:
        yield stub


def entry(url: str, source_id: int, record_id: str | None = None) -> pb.StartRecordRequest:
    return pb.StartRecordRequest(
        record_id=record_id or str(uuid.uuid4()),
        tag_name="batch",
        source=pb.SourceSpec(id=source_id, model=pb.SOURCE_MODEL_RTSP, uri_rtsp=url),
    )


def path_of(state: pb.RecordState, root: Path) -> Path:
    return root / state.location.split(":", 1)[1]  # relative to the storage root


async def test_one_call_starts_every_record_and_answers_once_each_camera_is_open(
    stub: agent_pb2_grpc.AgentStub, cam: RtspCamera, tmp_path: Path
) -> None:
    entries = [entry(cam.url, i + 1) for i in range(4)]
    bad = entry(cam.url, 9, record_id="../escape")  # refused alone: the others start
    answer = await stub.StartRecords(pb.StartRecordsRequest(records=[*entries, bad], wait_s=30), timeout=60)

    by_id = {r.record_id: r for r in answer.results}
    assert by_id[bad.record_id].error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert not by_id[bad.record_id].HasField("state")
    for e in entries:
        result = by_id[e.record_id]
        assert result.opened and result.state.status == pb.RECORD_STATUS_RECORDING, result
        assert result.state.error == ""
        # Answered once ffmpeg had opened the camera: its file is there already.
        assert path_of(result.state, tmp_path).exists()

    # Every record gathers a couple of fragments (the agent is another process: its clock runs on).
    await await_until(
        lambda: all(duration_of(path_of(by_id[e.record_id].state, tmp_path)) > 1.5 for e in entries),
        60,
        interval=0.3,
        what="1.5 s of video in every record",
    )
    for e in entries:
        done = await stub.StopRecord(pb.StopRecordRequest(record_id=e.record_id, wait=True), timeout=60)
        assert done.status == pb.RECORD_STATUS_COMPLETED, done
        final = path_of(done, tmp_path)
        assert md5_of(final) == done.hash_md5
        assert duration_of(final) > 1.0


async def test_a_camera_that_refuses_is_answered_with_its_reason_without_waiting_it_out(
    stub: agent_pb2_grpc.AgentStub,
) -> None:
    down = entry(f"rtsp://127.0.0.1:{free_port()}/stream", 1)
    started = time.monotonic()
    answer = await stub.StartRecords(pb.StartRecordsRequest(records=[down], wait_s=30), timeout=60)
    elapsed = time.monotonic() - started
    (result,) = answer.results
    assert result.opened and "Connection refused" in result.state.error, result
    assert result.state.status == pb.RECORD_STATUS_RECORDING  # it keeps trying, as a single start does
    assert elapsed < 15, elapsed  # its first attempt's end, not the 30 s wait
    await stub.StopRecord(pb.StopRecordRequest(record_id=down.record_id, wait=True), timeout=60)


async def test_ffmpeg_is_spawned_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork+exec on the loop stalled every RPC of a group start: Popen runs on spawning threads."""
    threads: list[int] = []
    real = spawn.popen

    def spy(*args: object) -> object:
        threads.append(threading.get_ident())
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(spawn, "popen", spy)
    procs = [process.FfmpegProcess(["sleep", "5"], name=f"sleep-{i}") for i in range(3)]
    for proc in procs:
        await proc.start()
    try:
        assert all(proc.running for proc in procs)
        assert threads and threading.get_ident() not in threads
    finally:
        for proc in procs:
            assert await proc.stop(1.0) == -15  # SIGTERM, reaped through the pidfd
    assert not any(proc.running for proc in procs)
