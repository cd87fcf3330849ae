"""The journal's round trip and privacy, the tag directory names and the capacity limit."""

from __future__ import annotations

import json
import sqlite3
import stat
import uuid
from pathlib import Path

import pytest

from agent.cameras.spec import CameraSpec
from agent.errors import CapacityError
from agent.files.layout import RecordPaths, safe_tag
from agent.recording.journal import JOURNAL_NAME, Gap, Journal, RecordRow
from shared.enums import GapReason, RecordStatus
from tests.agent.recording.support import open_manager

pytestmark = pytest.mark.anyio


def test_journal_keeps_a_record_with_its_credentials_in_a_private_file(tmp_path: Path) -> None:
    spec = CameraSpec(7, rtsp_url="rtsp://admin:pw@cam/x", picture_url="http://cam/s.jpg", picture_user="u")
    row = RecordRow("r1", "tag", spec, "ffmpeg -i {input} {output}", RecordStatus.RECORDING, 10.0, "/f.mp4")
    row.parts = ["/p1.mp4", "/p2.mp4"]
    row.gaps = [Gap(11.0, 12.5, GapReason.DISK, "disk full"), Gap(13.0, 14.0, GapReason.CAMERA)]
    journal = Journal(tmp_path)
    journal.save(row)
    journal.close()
    assert stat.S_IMODE((tmp_path / JOURNAL_NAME).stat().st_mode) == 0o600
    [loaded] = Journal(tmp_path).load_all()
    assert loaded == row and loaded.spec.rtsp_url == "rtsp://admin:pw@cam/x"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ([11.0, 12.5], Gap(11.0, 12.5, GapReason.CAMERA, "")),  # two releases back: the camera's
        ([11.0, 12.5, "disk"], Gap(11.0, 12.5, GapReason.DISK, "")),  # the previous release: no cause
    ],
)
def test_a_journal_of_an_earlier_release_reads_its_gaps(tmp_path: Path, written: list, read: Gap) -> None:
    row = RecordRow(
        "r1", "tag", CameraSpec(7, rtsp_url="rtsp://cam/x"), None, RecordStatus.RECORDING, 10.0, "/f"
    )
    journal = Journal(tmp_path)
    journal.save(row)
    journal.close()
    with sqlite3.connect(tmp_path / JOURNAL_NAME) as db:  # as that release wrote them
        db.execute("UPDATE records SET gaps = ?", (json.dumps([written]),))
    [loaded] = Journal(tmp_path).load_all()
    assert loaded.gaps == [read]


@pytest.mark.parametrize(
    "tag", ["..", ".", "../../etc", "a/b", "a b", ".hidden", "", "x" * 300, "ok-tag_1.0"]
)
def test_tag_directory_names_stay_in_one_safe_directory(tag: str) -> None:
    name = safe_tag(tag)
    assert name and ".." not in name and "/" not in name and not name.startswith(".")
    assert len(name) <= 100
    root = Path("/data")
    assert RecordPaths.of(root, tag, 1, "rec").final.parent.parent.parent == root


def test_different_tags_never_share_a_directory() -> None:
    tags = ["a/b", "a_b", "a b", "a?b", "ok-tag_1.0"]
    assert len({safe_tag(t) for t in tags}) == len(tags)
    assert safe_tag("ok-tag_1.0") == "ok-tag_1.0"


def test_record_ids_must_be_plain_tokens() -> None:
    for bad in ["../x", "a/b", "", ".x", "x" * 200]:
        with pytest.raises(ValueError):
            RecordPaths.of(Path("/data"), "t", 1, bad)


async def test_start_is_idempotent_and_refuses_beyond_capacity(tmp_path: Path) -> None:
    spec = CameraSpec(1, rtsp_url="rtsp://127.0.0.1:9/none")  # nothing listens: no video, no matter
    async with open_manager(tmp_path, capacity=1) as manager:
        first = await manager.start("r-1", "t", spec, None)
        assert (await manager.start("r-1", "t", spec, None)).begin_unix == first.begin_unix
        with pytest.raises(CapacityError):
            await manager.start(str(uuid.uuid4()), "t", spec, None)
        assert manager.active_count() == 1
        await manager.stop("r-1", wait=True)
        assert manager.get("r-1").status == "failed"
        assert manager.list(first.updated_unix) and manager.list(manager.get("r-1").updated_unix) == []
