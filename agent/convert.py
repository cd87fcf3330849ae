"""Between protobuf messages and the agent's own types: done here once, not in every handler."""

from __future__ import annotations

from agent.camera import CameraSpec
from shared.heartbeat import AssignedSource
from shared.rpc import agent_pb2 as pb

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


def spec_from_assigned(source: AssignedSource) -> CameraSpec:
    return CameraSpec(
        source_id=source.id,
        rtsp_url=source.uri_rtsp,
        picture_url=source.picture_uri,
        picture_auth=source.picture_auth.value if source.picture_auth else None,
        picture_user=source.picture_user,
        picture_password=source.picture_password,
    )
