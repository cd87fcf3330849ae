"""The one conversion between the wire shapes and their gRPC encodings, both ways, and the one
mapping of the protocol's enums to the project's own. Nothing else converts them.

- A source an agent must reach is `shared.heartbeat.AssignedSource`, on both wires: heartbeats
  carry it as JSON, and gRPC's `SourceSpec` carries the same JSON whole in `assigned`. A new camera
  field is a field of AssignedSource and nothing here changes. SourceSpec's typed fields 1-5 are
  still filled (an agent of release 0.1.0 reads only them) and read only from a control plane of that
  release, which sends no `assigned`.
- A record as its agent reports it is `shared.heartbeat.RecordReport`; gRPC's `RecordState` is its
  encoding (plus the record's tag, which only the start answers carry).
"""

from __future__ import annotations

from shared.enums import GapReason, PictureAuth, RecordStatus, SourceModel
from shared.heartbeat import AssignedSource, RecordReport, detail_runs
from shared.rpc import agent_pb2 as pb

RECORD_STATUS_TO_PB: dict[RecordStatus, pb.RecordStatus] = {
    RecordStatus.PENDING: pb.RECORD_STATUS_PENDING,
    RecordStatus.RECORDING: pb.RECORD_STATUS_RECORDING,
    RecordStatus.STOPPING: pb.RECORD_STATUS_STOPPING,
    RecordStatus.COMPLETED: pb.RECORD_STATUS_COMPLETED,
    RecordStatus.FAILED: pb.RECORD_STATUS_FAILED,
    RecordStatus.INTERRUPTED: pb.RECORD_STATUS_INTERRUPTED,
    RecordStatus.DELETED: pb.RECORD_STATUS_DELETED,
}
RECORD_STATUS_FROM_PB: dict[pb.RecordStatus, RecordStatus] = {v: k for k, v in RECORD_STATUS_TO_PB.items()}
PICTURE_AUTH_TO_PB: dict[PictureAuth, pb.PictureAuth] = {
    PictureAuth.BASIC: pb.PICTURE_AUTH_BASIC,
    PictureAuth.DIGEST: pb.PICTURE_AUTH_DIGEST,
}
PICTURE_AUTH_FROM_PB: dict[pb.PictureAuth, PictureAuth] = {v: k for k, v in PICTURE_AUTH_TO_PB.items()}
SOURCE_MODEL_TO_PB: dict[SourceModel, pb.SourceModel] = {
    SourceModel.SOURCE: pb.SOURCE_MODEL_RTSP,
    SourceModel.PICTURE_SOURCE: pb.SOURCE_MODEL_PICTURE,
}
SOURCE_MODEL_FROM_PB: dict[pb.SourceModel, SourceModel] = {v: k for k, v in SOURCE_MODEL_TO_PB.items()}


def source_to_pb(source: AssignedSource) -> pb.SourceSpec:
    spec = pb.SourceSpec(
        id=source.id,
        model=SOURCE_MODEL_TO_PB[source.model],
        uri_rtsp=source.uri_rtsp or "",
        ffmpeg_cmd=source.ffmpeg_cmd or "",
        assigned=source.model_dump_json(),
    )
    if source.picture_uri:
        spec.picture.CopyFrom(
            pb.HttpPicture(
                uri=source.picture_uri,
                auth=PICTURE_AUTH_TO_PB.get(source.picture_auth, pb.PICTURE_AUTH_NONE)
                if source.picture_auth
                else pb.PICTURE_AUTH_NONE,
                user=source.picture_user or "",
                password=source.picture_password or "",
            )
        )
    return spec


def source_from_pb(spec: pb.SourceSpec) -> AssignedSource:
    if spec.assigned:
        return AssignedSource.model_validate_json(spec.assigned)
    # A control plane of release 0.1.0: the typed fields, all it sends.
    picture = spec.picture if spec.HasField("picture") and spec.picture.uri else None
    return AssignedSource(
        id=spec.id,
        model=SOURCE_MODEL_FROM_PB.get(spec.model, SourceModel.SOURCE),
        uri_rtsp=spec.uri_rtsp or None,
        picture_uri=picture.uri if picture else None,
        picture_auth=PICTURE_AUTH_FROM_PB.get(picture.auth) if picture else None,
        picture_user=(picture.user or None) if picture else None,
        picture_password=(picture.password or None) if picture else None,
        ffmpeg_cmd=spec.ffmpeg_cmd or None,
    )


def record_to_pb(report: RecordReport, tag_name: str) -> pb.RecordState:
    return pb.RecordState(
        record_id=report.record_id,
        tag_name=tag_name,
        source_id=report.source_id,
        status=RECORD_STATUS_TO_PB[report.status],
        begin_unix=report.begin_unix,
        end_unix=report.end_unix or 0.0,
        location=report.location,
        hash_md5=report.hash_md5 or "",
        size_bytes=report.size_bytes or 0,
        duration_s=report.duration_s or 0.0,
        error=report.error or "",
        gaps=[
            pb.Gap(start_unix=g[0], end_unix=g[1], reason=g[2] if len(g) > 2 else "", detail=detail)
            for g, detail in zip(report.gaps, report.details(), strict=True)
        ],
        updated_unix=report.updated_unix,
    )


def record_from_pb(state: pb.RecordState) -> RecordReport:
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
        gap_details=detail_runs([g.detail for g in state.gaps]),
        updated_unix=state.updated_unix,
    )


def _gap_reason(reason: str) -> GapReason:
    """An older agent sends no reason (its gaps were the camera's); a newer one's unknown reason
    is still a gap."""
    try:
        return GapReason(reason or GapReason.CAMERA)
    except ValueError:
        return GapReason.CAMERA
