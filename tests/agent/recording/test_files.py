"""Which files of a record may be read or deleted: its own locations, inside the root, not busy."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cameras.spec import CameraSpec
from agent.errors import FileAccessError, RecordBusyError, UnknownRecordError
from agent.files.layout import JOURNAL_NAME
from agent.files.reads import _read
from tests.agent.recording.support import AGENT, open_manager, start_and_wait_for_video, wait_video
from videorec_testing.cameras import start_rtsp_camera

pytestmark = pytest.mark.anyio


async def test_files_are_served_and_deleted_only_from_the_records_own_locations(tmp_path: Path) -> None:
    root = tmp_path / "root"
    cam = start_rtsp_camera()
    try:
        async with open_manager(root) as manager:
            a = await start_and_wait_for_video(manager, CameraSpec(1, rtsp_url=cam.url))
            b = await start_and_wait_for_video(manager, CameraSpec(2, rtsp_url=cam.url))

            served = manager.resolve_file(a.record_id, a.location)  # while recording: the growing part
            assert served.path == a.path.resolve() and served.growing
            with pytest.raises(RecordBusyError):
                await manager.delete_file(a.record_id, a.location)
            assert a.path.exists()

            await wait_video(a.path, 1.0)
            a = await manager.stop(a.record_id)
            b = await manager.stop(b.record_id)
            assert manager.resolve_file(a.record_id, a.location).path == a.path.resolve()
            assert manager.resolve_file(a.record_id, a.location).growing is False

            final_dir = a.path.parent
            refused = [
                f"{AGENT}:{final_dir}/../{final_dir.name}/{a.path.name}",  # same file, not its location
                f"{AGENT}:{root}/../outside.mp4",
                f"{AGENT}:/etc/passwd",
                f"{AGENT}:./{a.path.relative_to(root)}",  # the relative location is compared as text too
                f"other-agent:{a.path}",
                str(a.path),
                b.location,  # another record's file
            ]
            for location in refused:
                with pytest.raises(FileAccessError):
                    manager.resolve_file(a.record_id, location)
                with pytest.raises(FileAccessError):
                    await manager.delete_file(a.record_id, location)
            with pytest.raises(UnknownRecordError):
                manager.resolve_file("no-such-record", a.location)

            outside = tmp_path / "secret.txt"
            outside.write_text("not a video")
            b.path.unlink()
            b.path.symlink_to(outside)  # the record's own name, but pointing out of the root
            with pytest.raises(FileAccessError):
                manager.resolve_file(b.record_id, b.location)
            with pytest.raises(FileAccessError):
                await manager.delete_file(b.record_id, b.location)
            assert outside.read_text() == "not a video"
            # A link inside the storage root (to the journal, with its camera URLs) is not served either.
            b.path.unlink()
            b.path.symlink_to(root / JOURNAL_NAME)
            with pytest.raises(FileAccessError, match="link"):
                manager.resolve_file(b.record_id, b.location)
            with pytest.raises(OSError):
                _read(b.path, 0, 10)  # and a link swapped in after the check is not followed

            assert a.path.exists()
            deleted = await manager.delete_file(a.record_id, a.location)
            assert deleted.status == "deleted" and not a.path.exists()
            assert manager.get(a.record_id).status == "deleted"
    finally:
        cam.stop()
    async with open_manager(root) as manager:  # the deletion is in the journal
        assert manager.get(a.record_id).status == "deleted"
        assert manager.get(b.record_id).status == "completed"
