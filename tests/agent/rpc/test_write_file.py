"""WriteFile end to end: the real servicer on a real gRPC server receives a copy, then serves and
deletes it through StatFile / ReadFile / DeleteFile exactly like one of its recordings."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

from agent.cameras.prober import Prober
from agent.files.copies.store import CopyStore
from agent.live import LiveHub
from agent.recording.manager import RecordManager
from agent.rpc.server import create_server
from agent.rpc.servicer import AgentServicer
from agent.runtime import RuntimeState
from agent.settings import AgentSettings
from shared.rpc import agent_pb2 as pb
from shared.rpc import agent_pb2_grpc

pytestmark = pytest.mark.anyio

NAME = "agent-b"
RECORD = "8c1d2e3f-aaaa-4bbb-8ccc-ddddeeeeffff"
DATA = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 5000


@contextlib.asynccontextmanager
async def running_agent(root: Path) -> AsyncIterator[agent_pb2_grpc.AgentStub]:
    """An agent as agent.main builds it, on a free port, with nothing recording."""
    settings = AgentSettings(name=NAME, storage_root=root, grpc_port=0, token=None, _env_file=None)  # type: ignore[call-arg]
    async with httpx.AsyncClient() as http:
        hub = LiveHub(http, "ffmpeg", fps=5.0, linger_s=0.0)
        prober = Prober(http, hub, interval_s=60.0, timeout_s=1.0, ffmpeg_bin="ffmpeg")
        records = RecordManager(root, NAME, "ffmpeg", http)
        await records.open()
        copies = CopyStore(root, NAME)
        state = RuntimeState(
            settings=settings, http=http, hub=hub, prober=prober, records=records, copies=copies
        )
        server, port = create_server(settings, AgentServicer(state), health_aio.HealthServicer())
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                yield agent_pb2_grpc.AgentStub(channel)
        finally:
            await server.stop(grace=None)
            await hub.aclose()
            await records.aclose()
            copies.close()


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[agent_pb2_grpc.AgentStub]:
    async with running_agent(tmp_path) as stub:
        yield stub


def header(path: str = "nightly/cam7", data: bytes = DATA, **overrides: object) -> pb.WriteFileHeader:
    fields: dict[str, object] = {
        "record_id": RECORD,
        "path": path,
        "size": len(data),
        "hash_md5": hashlib.md5(data).hexdigest(),
    }
    return pb.WriteFileHeader(**(fields | overrides))  # type: ignore[arg-type]


def messages(
    head: pb.WriteFileHeader | None, data: bytes = DATA, chunk: int = 100_000
) -> Iterator[pb.WriteFileChunk]:
    if head is not None:
        yield pb.WriteFileChunk(header=head)
    for start in range(0, len(data), chunk):
        yield pb.WriteFileChunk(data=data[start : start + chunk])


def sync_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "sync").rglob("*") if p.is_file())


async def read_all(stub: agent_pb2_grpc.AgentStub, location: str) -> bytes:
    request = pb.ReadFileRequest(file=pb.FileRef(record_id=RECORD, location=location), chunk_size=65536)
    return b"".join([c.data async for c in stub.ReadFile(request)])


async def test_copy_is_received_served_and_deleted(stub: agent_pb2_grpc.AgentStub, tmp_path: Path) -> None:
    result = await stub.WriteFile(messages(header()))
    path = (tmp_path / "sync" / "nightly" / "cam7" / f"{RECORD}.mp4").absolute()
    assert result.location == f"{NAME}:sync/nightly/cam7/{RECORD}.mp4"  # relative to the storage root
    assert result.hash_md5 == hashlib.md5(DATA).hexdigest()
    assert result.size == len(DATA)
    assert path.read_bytes() == DATA

    ref = pb.FileRef(record_id=RECORD, location=result.location)
    stat = await stub.StatFile(ref)
    assert (stat.size, stat.growing, stat.hash_md5) == (len(DATA), False, result.hash_md5)
    assert await read_all(stub, result.location) == DATA

    assert (await stub.DeleteFile(ref)).deleted
    assert not path.exists()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.StatFile(ref)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_same_copy_twice_is_idempotent(stub: agent_pb2_grpc.AgentStub, tmp_path: Path) -> None:
    first = await stub.WriteFile(messages(header()))
    mtime = (tmp_path / first.location.partition(":")[2]).stat().st_mtime_ns
    assert await stub.WriteFile(messages(header())) == first
    assert (tmp_path / first.location.partition(":")[2]).stat().st_mtime_ns == mtime
    assert len(sync_files(tmp_path)) == 1


async def test_kept_copy_is_answered_after_the_header(stub: agent_pb2_grpc.AgentStub) -> None:
    """A retried sync of a kept copy is answered before any byte is sent: the relay can stop."""
    first = await stub.WriteFile(messages(header()))
    never = asyncio.Event()

    async def header_then_stall() -> AsyncIterator[pb.WriteFileChunk]:
        yield pb.WriteFileChunk(header=header())
        await never.wait()  # a source agent that has not sent a byte yet

    assert await asyncio.wait_for(stub.WriteFile(header_then_stall()), timeout=5) == first


@pytest.mark.parametrize(
    "head, data",
    [
        (header(hash_md5="f" * 32), DATA),  # wrong MD5
        (header(), DATA[:-1]),  # one byte short
        (header(), DATA[:-1] + b"X"),  # corrupted in transit
    ],
)
async def test_corrupted_stream_is_data_loss(
    stub: agent_pb2_grpc.AgentStub, tmp_path: Path, head: pb.WriteFileHeader, data: bytes
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.WriteFile(messages(head, data))
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert sync_files(tmp_path) == []


@pytest.mark.parametrize("path", ["../../escape", "/tmp/escape", "a/../../escape", ".."])
async def test_escaping_paths_are_invalid(stub: agent_pb2_grpc.AgentStub, tmp_path: Path, path: str) -> None:
    # The header alone: the agent refuses on it, and a client still sending data when the refusal
    # lands would see its own send fail (INTERNAL) instead of the agent's answer.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.WriteFile(messages(header(path=path), b""))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sync_files(tmp_path) == []
    assert not (tmp_path.parent / "escape").exists()


async def test_first_message_must_be_a_header(stub: agent_pb2_grpc.AgentStub, tmp_path: Path) -> None:
    for stream in (messages(None, DATA[:10]), iter([])):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.WriteFile(stream)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sync_files(tmp_path) == []


async def test_resume_offset_is_refused(stub: agent_pb2_grpc.AgentStub, tmp_path: Path) -> None:
    # The header alone, as for the escaping paths: data still being sent when the refusal lands
    # fails the client's own send (INTERNAL), which hid the agent's answer once under load.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.WriteFile(messages(header(resume_offset=100), b""))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert sync_files(tmp_path) == []


async def test_unknown_file_is_not_found(stub: agent_pb2_grpc.AgentStub, tmp_path: Path) -> None:
    result = await stub.WriteFile(messages(header()))
    for ref in (
        pb.FileRef(record_id="no-such-record", location=result.location),
        pb.FileRef(record_id="no-such-record", location=f"{NAME}:/etc/passwd"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.StatFile(ref)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert caught.value.details() == "record no-such-record is not on this agent"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.DeleteFile(ref)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert caught.value.details() == "record no-such-record is not on this agent"
    assert sync_files(tmp_path) == [(tmp_path / result.location.partition(":")[2]).absolute()]


async def test_copy_survives_an_agent_restart(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as stub:
        result = await stub.WriteFile(messages(header()))
    async with running_agent(tmp_path) as stub:
        stat = await stub.StatFile(pb.FileRef(record_id=RECORD, location=result.location))
        assert (stat.size, stat.hash_md5) == (len(DATA), result.hash_md5)
        assert await read_all(stub, result.location) == DATA
        assert await stub.WriteFile(messages(header())) == result  # still known: not rewritten
