"""The control plane's StartRecords client over real gRPC: refused entries come back as their own
errors, and an agent older than StartRecords is asked one record at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from controlplane.agents.client import AgentClient
from controlplane.errors import AgentUnavailableError, BadLocationError
from shared.rpc import agent_pb2 as pb
from shared.rpc import agent_pb2_grpc

pytestmark = pytest.mark.anyio


class OldAgent(agent_pb2_grpc.AgentServicer):
    """Knows only StartRecord: StartRecords answers UNIMPLEMENTED, as the generated base does."""

    def __init__(self) -> None:
        self.singles = 0

    async def StartRecord(
        self, request: pb.StartRecordRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordState:
        self.singles += 1
        return pb.RecordState(record_id=request.record_id, status=pb.RECORD_STATUS_RECORDING)


class NewAgent(OldAgent):
    async def StartRecords(
        self, request: pb.StartRecordsRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartRecordsResponse:
        results = [
            pb.StartRecordResult(
                record_id=r.record_id,
                error_code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                error="bad template",
            )
            if r.source.id == 2
            else pb.StartRecordResult(
                record_id=r.record_id,
                state=pb.RecordState(record_id=r.record_id, status=pb.RECORD_STATUS_RECORDING),
                opened=True,
            )
            for r in reversed(request.records)  # the answer's order is not the request's
        ]
        return pb.StartRecordsResponse(results=results)


async def serve(servicer: OldAgent) -> AsyncIterator[AgentClient]:
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield AgentClient("agent-x", channel, None, timeout_s=5.0)
    finally:
        await server.stop(grace=None)


def entries(n: int) -> list[tuple[str, str, pb.SourceSpec]]:
    return [(f"rec-{i}", "t", pb.SourceSpec(id=i, uri_rtsp="rtsp://cam/x")) for i in range(1, n + 1)]


async def test_each_entry_gets_its_own_answer_in_the_order_asked() -> None:
    servicer = NewAgent()
    async for client in serve(servicer):
        outcomes = await client.start_records(entries(3), wait_s=1.0)
    assert isinstance(outcomes[0], pb.RecordState) and outcomes[0].record_id == "rec-1"
    assert isinstance(outcomes[1], BadLocationError) and "bad template" in outcomes[1].message
    assert isinstance(outcomes[2], pb.RecordState) and outcomes[2].record_id == "rec-3"
    assert servicer.singles == 0


async def test_an_agent_without_start_records_is_asked_one_record_at_a_time() -> None:
    servicer = OldAgent()
    async for client in serve(servicer):
        outcomes = await client.start_records(entries(3), wait_s=1.0)
    assert [o.record_id for o in outcomes if isinstance(o, pb.RecordState)] == ["rec-1", "rec-2", "rec-3"]
    assert servicer.singles == 3


async def test_an_unreachable_agent_is_one_error() -> None:
    channel = grpc.aio.insecure_channel("127.0.0.1:1")
    client = AgentClient("agent-gone", channel, None, timeout_s=2.0)
    with pytest.raises(AgentUnavailableError, match="agent-gone"):
        await client.start_records(entries(2), wait_s=0.5)
    await channel.close()
