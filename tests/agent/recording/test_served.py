"""A completed record's file is checked once, then confirmed per read by its identity (one stat):
what replaced it since is checked again, and a deleted or evicted record is not served from what was
kept. The records are completed ones the journal holds, as after an agent restart (no camera needed)."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import pytest

from agent.cameras.spec import CameraSpec
from agent.errors import FileAccessError
from agent.files.layout import JOURNAL_NAME, RecordPaths
from agent.recording.journal import Journal, RecordRow
from shared.enums import RecordStatus
from tests.agent.recording.support import AGENT, open_manager

pytestmark = pytest.mark.anyio


def completed(root: Path, source_id: int, data: bytes, ended_unix: float) -> RecordRow:
    """A completed record in the journal, with its final file."""
    record_id = str(uuid.uuid4())
    final = RecordPaths.of(root, "tag-1", source_id, record_id).final
    final.parent.mkdir(parents=True, exist_ok=True)
    final.write_bytes(data)
    row = RecordRow(
        record_id,
        "tag-1",
        CameraSpec(source_id, rtsp_url="rtsp://camera.invalid/"),
        None,
        RecordStatus.COMPLETED,
        ended_unix - 1,
        str(final),
        end_unix=ended_unix,
        hash_md5=hashlib.md5(data).hexdigest(),  # noqa: S324 - the record's checksum
        size_bytes=len(data),
        duration_s=1.0,
    )
    journal = Journal(root)
    journal.save(row)
    journal.close()
    return row


def location(row: RecordRow) -> str:
    return f"{AGENT}:{row.final_path}"


async def test_a_completed_file_is_checked_once_and_what_replaced_it_is_checked_again(tmp_path: Path) -> None:
    root = tmp_path / "root"
    row = completed(root, 1, b"video" * 1000, time.time())
    final = Path(row.final_path)
    async with open_manager(root) as manager:
        served = manager.resolve_file(row.record_id, location(row))
        assert served.path == final.resolve() and served.final and not served.growing
        assert served.hash_md5 == row.hash_md5
        assert manager.resolve_file(row.record_id, location(row)) is served  # kept, not checked again

        # The file swapped for a link to the journal: another file at that path, so checked again.
        kept = final.with_name("kept.mp4")
        final.rename(kept)
        final.symlink_to(root / JOURNAL_NAME)
        with pytest.raises(FileAccessError, match="link"):
            manager.resolve_file(row.record_id, location(row))
        final.unlink()
        kept.rename(final)
        assert manager.resolve_file(row.record_id, location(row)).path == final.resolve()

        # Its folder swapped for a link to a folder with another file of that name.
        elsewhere = root / "elsewhere"  # inside the root: only the link check refuses it
        elsewhere.mkdir()
        (elsewhere / final.name).write_bytes(b"not the record")
        final.parent.rename(tmp_path / "moved")
        final.parent.symlink_to(elsewhere)
        with pytest.raises(FileAccessError, match="link"):
            manager.resolve_file(row.record_id, location(row))

        # Another location of the record is not answered by what was kept for this one.
        with pytest.raises(FileAccessError):
            manager.resolve_file(row.record_id, f"{AGENT}:{root / JOURNAL_NAME}")


async def test_a_deleted_or_evicted_record_is_not_served_from_what_was_kept(tmp_path: Path) -> None:
    root = tmp_path / "root"
    deleted = completed(root, 1, b"a" * 1000, time.time())
    evicted = completed(root, 2, b"b" * 1000, time.time() - 7200)
    async with open_manager(root, retention_max_age_s=3600) as manager:
        for row in (deleted, evicted):
            assert manager.resolve_file(row.record_id, location(row)).final

        await manager.delete_file(deleted.record_id, location(deleted))
        with pytest.raises(FileAccessError):
            manager.resolve_file(deleted.record_id, location(deleted))

        assert [record_id for record_id, _rule in await manager.enforce_retention(set())] == [
            evicted.record_id
        ]
        with pytest.raises(FileAccessError):
            manager.resolve_file(evicted.record_id, location(evicted))
