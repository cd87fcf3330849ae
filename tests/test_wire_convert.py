"""A source and a record cross both wires in one shape: what an agent makes of a source is the same
whether a heartbeat or a gRPC call brought it, and whichever release of the control plane sent it."""

from __future__ import annotations

import pytest

from agent.cameras.spec import spec_from_assigned
from agent.rpc.convert import spec_from_proto
from controlplane.agents.convert import assigned_source, source_spec
from controlplane.models import Source
from shared.enums import GapReason, PictureAuth, RecordStatus, SourceModel
from shared.heartbeat import AssignedSource, HeartbeatOut, RecordReport
from shared.rpc import agent_pb2 as pb
from shared.rpc_convert import record_from_pb, record_to_pb

ROWS = [
    Source(
        id=1,
        model=SourceModel.SOURCE,
        uri_rtsp="rtsp://user:secret@cam-1/s",
        ffmpeg_cmd="-i {input} {output}",
    ),
    Source(
        id=2,
        model=SourceModel.PICTURE_SOURCE,
        picture_uri="http://cam-2/still.jpg",
        picture_auth=PictureAuth.DIGEST.value,
        picture_user="admin",
        picture_password="secret",
    ),
    Source(id=3, model=SourceModel.SOURCE, uri_rtsp="rtsp://cam-3/s", picture_uri="http://cam-3/a.jpg"),
]


def previous_release_spec(row: Source) -> pb.SourceSpec:
    """What a control plane of release 0.1.0 sent: the typed fields only."""
    spec = pb.SourceSpec()
    spec.CopyFrom(source_spec(row))
    spec.ClearField("assigned")
    return spec


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"source-{r.id}")
def test_an_agent_sees_one_camera_whichever_wire_and_release_brought_it(row: Source) -> None:
    by_heartbeat = spec_from_assigned(
        HeartbeatOut.model_validate_json(
            HeartbeatOut(interval_s=2.0, sources=[assigned_source(row)]).model_dump_json()
        ).sources[0]  # type: ignore[index]
    )
    assert spec_from_proto(source_spec(row)) == by_heartbeat
    assert spec_from_proto(previous_release_spec(row)) == spec_from_proto(source_spec(row))
    assert by_heartbeat.picture_password == row.picture_password  # credentials reach the agent
    assert by_heartbeat.source_id == row.id


def test_an_agent_of_the_previous_release_reads_the_typed_fields() -> None:
    spec = source_spec(ROWS[1])
    assert (spec.id, spec.model, spec.uri_rtsp) == (2, pb.SOURCE_MODEL_PICTURE, "")
    assert (spec.picture.uri, spec.picture.auth) == ("http://cam-2/still.jpg", pb.PICTURE_AUTH_DIGEST)
    assert (spec.picture.user, spec.picture.password) == ("admin", "secret")
    assert source_spec(ROWS[0]).ffmpeg_cmd == "-i {input} {output}"
    assert not source_spec(ROWS[0]).HasField("picture")


def test_a_new_field_of_the_source_reaches_the_agent_without_a_proto_change() -> None:
    """The gRPC source carries the wire shape whole: a field it has, the proto does not name."""

    class Newer(AssignedSource):
        rtsp_transport: str | None = None

    sent = Newer(id=7, model=SourceModel.SOURCE, uri_rtsp="rtsp://cam/s", rtsp_transport="tcp")
    spec = pb.SourceSpec(assigned=sent.model_dump_json())
    assert Newer.model_validate_json(spec.assigned).rtsp_transport == "tcp"


def test_a_record_report_survives_the_grpc_answer() -> None:
    report = RecordReport(
        record_id="r1",
        source_id=4,
        status=RecordStatus.COMPLETED,
        begin_unix=100.0,
        end_unix=160.0,
        location="agent-1:/data/r1.mp4",
        hash_md5="0" * 32,
        size_bytes=1234,
        duration_s=59.5,
        gaps=[(110.0, 112.0, GapReason.CAMERA)],
        updated_unix=161.0,
    )
    state = record_to_pb(report, "tag-a")
    assert state.tag_name == "tag-a"
    assert record_from_pb(state) == report
    older = pb.RecordState()
    older.CopyFrom(state)
    older.gaps[0].reason = ""  # an agent that sent no gap reasons: its gaps were the camera's
    assert record_from_pb(older).gaps == [(110.0, 112.0, GapReason.CAMERA)]
