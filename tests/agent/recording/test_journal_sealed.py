"""The journal keeps a record's camera credentials sealed with a key derived from the agent's token:
the file holds no password, the agent that wrote it reads them back, and a journal sealed with
another token still gives every record's files and state (issue 21)."""

from __future__ import annotations

from pathlib import Path

from agent.cameras.spec import CameraSpec
from agent.files.layout import RecordPaths
from agent.recording.journal import JOURNAL_NAME, Gap, Journal, RecordRow, journal_key
from agent.recording.timeline import Timeline
from shared.enums import GapReason, RecordStatus
from shared.heartbeat import MAX_GAP_DETAIL_CHARS

RTSP_PASSWORD, PICTURE_PASSWORD = "rtsp-secret-5d1e", "pic-secret-88af"


def a_row() -> RecordRow:
    spec = CameraSpec(
        7,
        rtsp_url=f"rtsp://admin:{RTSP_PASSWORD}@cam/x?pwd={RTSP_PASSWORD}",
        picture_url=f"http://cam/s.jpg?token={RTSP_PASSWORD}",
        picture_user="u",
        picture_password=PICTURE_PASSWORD,
    )
    row = RecordRow("r1", "tag", spec, None, RecordStatus.RECORDING, 10.0, "/f.mp4")
    row.parts, row.gaps = ["/p1.mp4"], [Gap(11.0, 12.5, GapReason.CAMERA, "Connection refused")]
    return row


def written(root: Path, key: bytes | None) -> RecordRow:
    row = a_row()
    journal = Journal(root, key)
    journal.save(row)
    journal.close()
    return row


def test_the_journal_file_holds_no_camera_password(tmp_path: Path):
    key = journal_key("vra2.a.site.mac")
    row = written(tmp_path, key)
    for path in tmp_path.glob(JOURNAL_NAME + "*"):  # the journal, its WAL
        data = path.read_bytes()
        assert RTSP_PASSWORD.encode() not in data and PICTURE_PASSWORD.encode() not in data, path
    [loaded] = Journal(tmp_path, key).load_all()
    assert loaded == row  # the agent that sealed them reads them back: a resume reconnects


def test_a_journal_sealed_with_another_token_still_gives_the_records(tmp_path: Path):
    row = written(tmp_path, journal_key("old-token"))
    [loaded] = Journal(tmp_path, journal_key("new-token")).load_all()
    assert (loaded.record_id, loaded.status, loaded.parts, loaded.gaps) == (
        row.record_id,
        row.status,
        row.parts,
        row.gaps,
    )
    assert loaded.spec.picture_password is None
    assert loaded.spec.rtsp_url is not None and RTSP_PASSWORD not in loaded.spec.rtsp_url
    assert loaded.spec.rtsp_url.startswith("rtsp://admin:")


def test_a_plain_journal_from_before_is_still_read(tmp_path: Path):
    row = written(tmp_path, None)
    [loaded] = Journal(tmp_path, journal_key("token")).load_all()
    assert loaded == row


def test_a_gaps_cause_is_kept_redacted_and_short(tmp_path: Path):
    """The cause of a gap goes to the journal, the heartbeat and the API: never a password, never at
    length (a camera's error text is free text)."""
    row = a_row()
    row.gaps = []
    journal = Journal(tmp_path, journal_key("vra2.a.site.mac"))
    timeline = Timeline(row, RecordPaths.for_final(tmp_path / "r1.mp4"), journal, picture_interval_s=1.0)
    timeline.set_error(f"rtsp://admin:{RTSP_PASSWORD}@cam/x: Connection refused {'x' * 1000}")
    assert row.error is not None and RTSP_PASSWORD not in row.error
    timeline.add_gap(11.0, 12.5)
    [gap] = Journal(tmp_path, journal_key("vra2.a.site.mac")).load_all()[0].gaps
    assert gap.detail.startswith("rtsp://admin:***@cam/x: Connection refused")
    assert RTSP_PASSWORD not in gap.detail and len(gap.detail) == MAX_GAP_DETAIL_CHARS
    timeline.set_error(None)  # the camera answers again: the record keeps why it last stopped
    assert row.error is not None and RTSP_PASSWORD not in row.error
