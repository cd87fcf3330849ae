"""From stored sources to what an agent needs to reach the camera."""

from __future__ import annotations

from controlplane.models import Source
from shared.enums import GapReason, PictureAuth, RecordStatus, SourceModel
from shared.heartbeat import AssignedSource, RecordReport
from shared.rpc import agent_pb2 as pb
from shared.rpc_enums import RECORD_STATUS_FROM_PB

_AUTH = {PictureAuth.BASIC.value: pb.PICTURE_AUTH_BASIC, PictureAuth.DIGEST.value: pb.PICTURE_AUTH_DIGEST}
_MODEL = {
    SourceModel.SOURCE.value: pb.SOURCE_MODEL_RTSP,
    SourceModel.PICTURE_SOURCE.value: pb.SOURCE_MODEL_PICTURE,
}


def source_spec(row: Source) -> pb.SourceSpec:
    assert row.id is not None
    spec = pb.SourceSpec(
        id=row.id, model=_MODEL[row.model], uri_rtsp=row.uri_rtsp or "", ffmpeg_cmd=row.ffmpeg_cmd or ""
    )
    if row.picture_uri:
        spec.picture.CopyFrom(
            pb.HttpPicture(
                uri=row.picture_uri,
                auth=_AUTH.get(row.picture_auth or "", pb.PICTURE_AUTH_NONE),
                user=row.picture_user or "",
                password=row.picture_password or "",
            )
        )
    return spec


def assigned_source(row: Source) -> AssignedSource:
    assert row.id is not None
    return AssignedSource(
        id=row.id,
        model=row.model,
        uri_rtsp=row.uri_rtsp,
        picture_uri=row.picture_uri,
        picture_auth=PictureAuth(row.picture_auth) if row.picture_auth and row.picture_uri else None,
        picture_user=row.picture_user,
        picture_password=row.picture_password,
        ffmpeg_cmd=row.ffmpeg_cmd,
    )


def report_from_state(state: pb.RecordState) -> RecordReport:
    """An agent's answer about a record, in the same shape as its heartbeat reports."""
    return RecordReport(
        record_id=state.record_id,
        source_id=state.source_id,
        status=RECORD_STATUS_FROM_PB.get(state.status, RecordStatus.FAILED),
        begin_unix=state.begin_unix,
        end_unix=state.end_unix or None,
        location=state.location,
        hash_md5=state.hash_md5 or None,
        size_bytes=state.size_bytes or None,
        duration_s=state.duration_s or None,
        error=state.error or None,
        gaps=[(g.start_unix, g.end_unix, _gap_reason(g.reason)) for g in state.gaps],
        updated_unix=state.updated_unix,
    )


def _gap_reason(reason: str) -> GapReason:
    """An older agent sends no reason (its gaps were the camera's); a newer one's unknown reason
    is still a gap."""
    try:
        return GapReason(reason or GapReason.CAMERA)
    except ValueError:
        return GapReason.CAMERA
