"""A source and a record cross both wires in one shape: what an agent makes of a source is the same
whether a heartbeat or a gRPC call brought it, and whichever release of the control plane sent it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from agent.cameras.spec import spec_from_assigned
from agent.rpc.convert import spec_from_proto
from controlplane.agents.convert import assigned_source, source_spec
from controlplane.models import Source
from shared.enums import GapReason, PictureAuth, RecordStatus, SourceModel
from shared.heartbeat import AssignedSource, HeartbeatOut, RecordReport, detail_runs
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
        gaps=[(110.0, 112.0, GapReason.CAMERA), (120.0, 121.0, GapReason.DISK)],
        gap_details=detail_runs(["Connection refused", "disk full"]),
        updated_unix=161.0,
    )
    state = record_to_pb(report, "tag-a")
    assert [g.detail for g in state.gaps] == ["Connection refused", "disk full"]
    assert state.tag_name == "tag-a"
    assert record_from_pb(state) == report
    older = pb.RecordState()
    older.CopyFrom(state)
    older.gaps[1].reason = ""  # an agent that sent no gap reasons: its gaps were the camera's
    older.gaps[0].detail = older.gaps[1].detail = ""  # nor their causes
    assert record_from_pb(older).gaps == [(110.0, 112.0, GapReason.CAMERA), (120.0, 121.0, GapReason.CAMERA)]
    assert record_from_pb(older).details() == ["", ""]


def test_the_causes_of_many_gaps_travel_as_runs() -> None:
    """A camera that drops every minute for a week: one cause for thousands of gaps is sent once, so
    one record's report stays far below the heartbeat's body limit."""
    causes = ["Connection refused"] * 9_000 + ["camera stalled: no video"] * 999 + [""]
    report = RecordReport(
        record_id="r1",
        source_id=4,
        status=RecordStatus.RECORDING,
        begin_unix=0.0,
        location="agent-1:r1.mp4",
        gaps=[(float(i), i + 0.5, GapReason.CAMERA) for i in range(len(causes))],
        gap_details=detail_runs(causes),
        updated_unix=1.0,
    )
    assert report.gap_details == [(0, "Connection refused"), (9_000, "camera stalled: no video"), (9_999, "")]
    assert RecordReport.model_validate_json(report.model_dump_json()).details() == causes
    assert len(report.model_dump_json()) < 512 * 1024  # a beat's budget for its records


def test_a_control_plane_of_the_previous_release_takes_a_report_with_gap_causes() -> None:
    """Agents work with the previous control plane for one release: its report model (as of commit
    625646d) must accept what this agent sends, causes and all, or it refuses the whole heartbeat."""

    class PreviousReport(BaseModel):
        record_id: str = Field(max_length=64)
        source_id: int
        status: RecordStatus
        begin_unix: float
        end_unix: float | None = None
        location: str = Field(max_length=1024)
        hash_md5: str | None = Field(None, max_length=64)
        size_bytes: int | None = None
        duration_s: float | None = None
        error: str | None = None
        gaps: list[tuple[float, float, GapReason] | tuple[float, float]] = Field(
            default_factory=list, max_length=10_000
        )
        updated_unix: float

    sent = RecordReport(
        record_id="r1",
        source_id=4,
        status=RecordStatus.RECORDING,
        begin_unix=0.0,
        location="agent-1:r1.mp4",
        error="Connection refused",
        gaps=[(1.0, 2.0, GapReason.CAMERA)],
        gap_details=[(0, "Connection refused")],
        updated_unix=1.0,
    )
    taken = PreviousReport.model_validate_json(sent.model_dump_json())
    assert taken.gaps == [(1.0, 2.0, GapReason.CAMERA)] and taken.error == "Connection refused"
