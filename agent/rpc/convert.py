"""The agent's protobuf mapping: the request's source as the agent's CameraSpec, a record as the
answer's RecordState, the agent's facts as AgentInfo. The wire shapes themselves are converted in
shared.rpc_convert, once for both sides; this module only composes."""

from __future__ import annotations

from pathlib import Path

from agent.cameras.spec import CameraSpec, spec_from_assigned
from agent.recording.manager import RecordInfo
from shared.heartbeat import HeartbeatIn
from shared.rpc import agent_pb2 as pb
from shared.rpc_convert import record_to_pb, source_from_pb


def spec_from_proto(source: pb.SourceSpec) -> CameraSpec:
    return spec_from_assigned(source_from_pb(source))


def record_state(info: RecordInfo) -> pb.RecordState:
    return record_to_pb(info, info.tag_name)


def agent_info(facts: HeartbeatIn, storage_root: Path) -> pb.AgentInfo:
    return pb.AgentInfo(
        name=facts.name,
        version=facts.version,
        capacity=facts.capacity,
        active_records=facts.active_records,
        disk_free_bytes=facts.disk_free_bytes,
        disk_total_bytes=facts.disk_total_bytes,
        storage_root=str(storage_root),
    )
