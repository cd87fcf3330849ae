"""The agent's one protobuf mapper: between the generated messages and the agent's own types, done
here once, not in every handler."""

from __future__ import annotations

from pathlib import Path

from agent.cameras.spec import CameraSpec
from agent.recording.manager import RecordInfo
from shared.heartbeat import HeartbeatIn
from shared.rpc import agent_pb2 as pb
from shared.rpc_enums import RECORD_STATUS_TO_PB

_AUTH_NAMES = {pb.PICTURE_AUTH_BASIC: "basic", pb.PICTURE_AUTH_DIGEST: "digest"}


def spec_from_proto(source: pb.SourceSpec) -> CameraSpec:
    has_picture = source.HasField("picture") and bool(source.picture.uri)
    return CameraSpec(
        source_id=source.id,
        rtsp_url=source.uri_rtsp or None,
        picture_url=source.picture.uri if has_picture else None,
        picture_auth=_AUTH_NAMES.get(source.picture.auth) if has_picture else None,
        picture_user=(source.picture.user or None) if has_picture else None,
        picture_password=(source.picture.password or None) if has_picture else None,
    )


def record_state(info: RecordInfo) -> pb.RecordState:
    return pb.RecordState(
        record_id=info.record_id,
        tag_name=info.tag_name,
        source_id=info.source_id,
        status=RECORD_STATUS_TO_PB[info.status],
        begin_unix=info.begin_unix,
        end_unix=info.end_unix or 0.0,
        location=info.location,
        hash_md5=info.hash_md5 or "",
        size_bytes=info.size_bytes or 0,
        duration_s=info.duration_s or 0.0,
        error=info.error or "",
        gaps=[pb.Gap(start_unix=g[0], end_unix=g[1], reason=g[2] if len(g) > 2 else "") for g in info.gaps],
        updated_unix=info.updated_unix,
    )


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
