"""An agent restart: the journal brings a record back, and the time the agent was down is a gap."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cameras.spec import CameraSpec
from agent.recording.journal import JOURNAL_NAME
from tests.agent.recording.support import (
    assert_final_file,
    duration_of,
    open_manager,
    start_and_wait_for_video,
    wait_video,
)
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.wait import await_until

pytestmark = pytest.mark.anyio


@pytest.fixture
def cam() -> Iterator[RtspCamera]:
    camera = start_rtsp_camera(user="admin", password="s3cret-pw")
    yield camera
    camera.stop()


async def test_record_resumes_after_agent_restart_with_the_downtime_as_gap(
    cam: RtspCamera, tmp_path: Path
) -> None:
    spec = CameraSpec(1, rtsp_url=cam.url_with_credentials)
    async with open_manager(tmp_path) as manager:
        info = await start_and_wait_for_video(manager, spec)
        pid = manager.recording(info.record_id).pid
        assert b"s3cret-pw" not in Path(f"/proc/{pid}/cmdline").read_bytes()  # ps shows no password
        await wait_video(info.path, 2.0)
    before = duration_of(info.path)
    down_since = time.time()
    journal = tmp_path / JOURNAL_NAME
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600  # it holds the camera's password
    # The agent is down for two seconds. A genuine sleep: the downtime is the input the gap must show,
    # and while nothing runs there is nothing to wait for.
    await asyncio.sleep(2)
    async with open_manager(tmp_path) as manager:
        resumed = manager.get(info.record_id)
        # The begin is only settled more exactly from the finished part (by at most a fragment).
        assert resumed.status == "recording" and abs(resumed.begin_unix - info.begin_unix) < 1.0
        await await_until(lambda: manager.get(info.record_id).growing, what="video after the restart")
        # The new ffmpeg writes part 2, whose fragments go on at the end of the record's one file.
        assert manager.get(info.record_id).path == info.path
        await await_until(lambda: duration_of(info.path) > before + 2.0, what="part 2 appended")
        done = await manager.stop(info.record_id)
    duration = assert_final_file(done, tmp_path)
    [(gap_start, gap_end, _reason)] = done.gaps
    assert gap_start <= down_since + 0.5 and gap_end - gap_start > 1.8, done.gaps
    assert done.end_unix is not None
    expected = done.end_unix - done.begin_unix - (gap_end - gap_start)
    assert abs(duration - expected) < 1.5, (duration, expected)
    assert "s3cret-pw" not in (done.error or "")


async def test_record_left_stopping_is_finalised_by_the_next_open(cam: RtspCamera, tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        info = await start_and_wait_for_video(manager, CameraSpec(1, rtsp_url=cam.url_with_credentials))
        await wait_video(info.path, 2.0)
        # The agent goes down between "stop asked" and "final file made".
        manager.recording(info.record_id).request_stop()
        await manager.aclose()
        async with open_manager(tmp_path) as reopened:
            await await_until(lambda: reopened.get(info.record_id).status == "completed", what="finalising")
            assert_final_file(reopened.get(info.record_id), tmp_path)
