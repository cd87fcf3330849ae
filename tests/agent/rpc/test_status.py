"""What a caller of the agent's gRPC calls reads when it asks for something the agent cannot give:
the status code and the words of agent.rpc.status's one table, on a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from shared.rpc import agent_pb2 as pb
from shared.rpc import agent_pb2_grpc
from tests.agent.rpc.test_write_file import running_agent

pytestmark = pytest.mark.anyio
PICTURE_ONLY = pb.SourceSpec(
    id=5, model=pb.SOURCE_MODEL_PICTURE, picture=pb.HttpPicture(uri="http://127.0.0.1:9/a.jpg")
)


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[agent_pb2_grpc.AgentStub]:
    async with running_agent(tmp_path) as stub:
        yield stub


async def test_stopping_a_record_the_agent_does_not_have_is_not_found(stub: agent_pb2_grpc.AgentStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.StopRecord(pb.StopRecordRequest(record_id="nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "record nope is not on this agent"


async def test_live_video_of_a_picture_only_source_is_a_failed_precondition(
    stub: agent_pb2_grpc.AgentStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.LiveStream(pb.LiveStreamRequest(source=PICTURE_ONLY)):
            pass
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details() == "a picture-only source has no live video"


async def test_a_camera_that_refuses_a_snapshot_says_why(stub: agent_pb2_grpc.AgentStub) -> None:
    # Port 9 (discard) on this host: nothing listens, so the connection fails at once.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Snapshot(pb.SnapshotRequest(source=PICTURE_ONLY))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details() == "cannot connect: All connection attempts failed"
