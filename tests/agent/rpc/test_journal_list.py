"""ListJournal pages: ordered by (last change, record id), a page boundary among records changed at the
same instant loses none and repeats none, and no camera password leaves the agent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from agent.cameras.spec import CameraSpec
from agent.recording.manager import RecordInfo, RecordManager
from agent.recording.states import Phase
from agent.rpc.journal_list import journal_page
from shared.enums import RecordStatus
from shared.rpc import agent_pb2 as pb


@dataclass
class Journaled:
    """What journal_page reads of the manager: its records, and each one's camera."""

    infos: list[RecordInfo]
    specs: dict[str, CameraSpec]

    def list(self, changed_since_unix: float = 0.0) -> list[RecordInfo]:
        return [i for i in self.infos if i.updated_unix > changed_since_unix]

    def recording(self, record_id: str) -> Any:
        return SimpleNamespace(row=SimpleNamespace(spec=self.specs[record_id]))


def info(record_id: str, updated: float) -> RecordInfo:
    return RecordInfo(
        record_id=record_id,
        source_id=1,
        status=RecordStatus.COMPLETED,
        begin_unix=updated - 10,
        location=f"a:{record_id}.mp4",
        updated_unix=updated,
        tag_name="t",
        path=Path(f"/x/{record_id}.mp4"),
        growing=False,
        phase=Phase.DONE,
    )


def test_pages_cover_every_record_once_across_equal_change_times() -> None:
    # Five records changed at the same instant, two later: pages of two cut through the five.
    infos = [info(f"r{n}", 100.0) for n in (5, 3, 1, 4, 2)] + [info("r7", 101.0), info("r6", 100.5)]
    specs = {i.record_id: CameraSpec(source_id=1, rtsp_url="rtsp://admin:pw-123@cam/s") for i in infos}
    manager = cast(RecordManager, Journaled(infos, specs))
    seen: list[str] = []
    since, after, more = 0.0, "", True
    while more:
        page = journal_page(
            manager, pb.ListJournalRequest(changed_since_unix=since, after_record_id=after, limit=2)
        )
        assert len(page.records) <= 2
        seen += [r.state.record_id for r in page.records]
        since, after = page.records[-1].state.updated_unix, page.records[-1].state.record_id
        more = page.more
    assert seen == ["r1", "r2", "r3", "r4", "r5", "r6", "r7"]
    # From the last mark, nothing more; from an older one, what changed after it.
    assert not journal_page(
        manager, pb.ListJournalRequest(changed_since_unix=since, after_record_id=after)
    ).records
    later = journal_page(manager, pb.ListJournalRequest(changed_since_unix=100.0, after_record_id="r5"))
    assert [r.state.record_id for r in later.records] == ["r6", "r7"]


def test_a_camera_leaves_without_its_password() -> None:
    infos = [info("r1", 1.0), info("r2", 2.0)]
    specs = {
        "r1": CameraSpec(source_id=1, rtsp_url="rtsp://admin:pw-123@cam/s?token=tok-456"),
        "r2": CameraSpec(
            source_id=2, picture_url="http://cam/snap.jpg", picture_user="u", picture_password="pw-789"
        ),
    }
    page = journal_page(cast(RecordManager, Journaled(infos, specs)), pb.ListJournalRequest())
    first, second = page.records
    assert first.model == pb.SOURCE_MODEL_RTSP and first.uri_rtsp == "rtsp://admin@cam/s?token=***"
    assert second.model == pb.SOURCE_MODEL_PICTURE and second.picture_uri == "http://cam/snap.jpg"
    assert not any(secret in str(page) for secret in ("pw-123", "tok-456", "pw-789"))
