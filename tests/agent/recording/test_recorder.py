"""Recording from the real RTSP test camera with real ffmpeg: the final file, drops, stalls, kills."""

from __future__ import annotations

import logging
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cameras.spec import CameraSpec
from agent.recording.orphans import writers_of
from tests.agent.recording.support import (
    assert_final_file,
    duration_of,
    open_manager,
    start_and_wait_for_video,
    wait_video,
)
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.net import free_port
from videorec_testing.wait import await_until

pytestmark = pytest.mark.anyio


@pytest.fixture
def cam() -> Iterator[RtspCamera]:
    camera = start_rtsp_camera()
    yield camera
    camera.stop()


async def test_recording_stops_into_one_hashed_file_as_long_as_the_wall_time(
    cam: RtspCamera, tmp_path: Path
) -> None:
    async with open_manager(tmp_path) as manager:
        info = await start_and_wait_for_video(manager, CameraSpec(1, rtsp_url=cam.url))
        assert (
            info.path.name == "part-0001.mp4"
            and info.location == f"agent-t:{info.path.relative_to(tmp_path)}"
        )
        await wait_video(info.path, 3.0)
        started = time.monotonic()
        done = await manager.stop(info.record_id)
        finalise_s = time.monotonic() - started
    duration = assert_final_file(done, tmp_path)
    assert done.end_unix is not None
    assert abs(duration - (done.end_unix - done.begin_unix)) < 1.0, duration
    assert done.gaps == [] and done.error is None
    # ffmpeg ends on its own and finalising a few seconds of video is quick: well under the 5 s stop
    # grace after which ffmpeg would be killed (the file then would not be whole, checked above).
    assert finalise_s < 15, finalise_s


async def test_camera_that_drops_and_returns_leaves_one_gap(
    cam: RtspCamera, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.recording.recorder")
    async with open_manager(tmp_path) as manager:
        info = await start_and_wait_for_video(manager, CameraSpec(1, rtsp_url=cam.url))
        await wait_video(info.path, 2.0)
        cam.stop()
        gone_at = time.time()
        # Away until the recorder has tried it again and failed (a real outage, not a blip).
        failed = f"record {info.record_id}: connecting -> retry_wait"
        await await_until(lambda: failed in caplog.text, what="a failed reconnection")
        cam.restart()
        back_at = time.time()
        await await_until(lambda: manager.get(info.record_id).gaps, what="the gap")
        assert manager.get(info.record_id).status == "recording"
        await wait_video(info.path, duration_of(info.path) + 2.0)
        done = await manager.stop(info.record_id)
    duration = assert_final_file(done, tmp_path)
    [(gap_start, gap_end, _reason)] = done.gaps
    # The whole outage, plus reconnecting (a probe every 0.5 s, ffmpeg's connection: ~1-2 s).
    assert gap_start <= gone_at + 0.5 and gap_end >= back_at - 0.5, (done.gaps, gone_at, back_at)
    assert gap_end - gap_start < back_at - gone_at + 6, (done.gaps, back_at - gone_at)
    assert done.end_unix is not None
    expected = done.end_unix - done.begin_unix - (gap_end - gap_start)
    assert abs(duration - expected) < 1.5, (duration, expected, done.gaps)


async def test_stalled_camera_is_restarted_by_the_watchdog(cam: RtspCamera, tmp_path: Path) -> None:
    async with open_manager(tmp_path, stall_timeout_s=3.0) as manager:
        info = await start_and_wait_for_video(manager, CameraSpec(1, rtsp_url=cam.url))
        recording = manager.recording(info.record_id)
        first_pid = recording.pid
        await wait_video(info.path, 1.0)
        cam.stall()
        await await_until(lambda: recording.pid != first_pid, what="the watchdog to replace ffmpeg")
        assert manager.get(info.record_id).error is not None
        cam.resume()
        await await_until(lambda: manager.get(info.record_id).gaps, what="the gap")
        await wait_video(info.path, duration_of(info.path) + 1.0)
        done = await manager.stop(info.record_id)
    assert_final_file(done, tmp_path)
    [(gap_start, gap_end, _reason)] = done.gaps
    assert gap_end - gap_start > 2.5, done.gaps


async def test_sigkilled_ffmpeg_leaves_a_playable_part_and_recording_goes_on(
    cam: RtspCamera, tmp_path: Path
) -> None:
    async with open_manager(tmp_path) as manager:
        info = await start_and_wait_for_video(manager, CameraSpec(1, rtsp_url=cam.url))
        await wait_video(info.path, 3.0)
        pid = manager.recording(info.record_id).pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        first_part = info.path
        part_duration = duration_of(first_part)  # fragmented MP4: plays without its ffmpeg's exit
        assert part_duration > killed_at - info.begin_unix - 2.0, part_duration
        # The next ffmpeg continues the record's one file itself, which stays served.
        await await_until(lambda: duration_of(first_part) > part_duration + 1.0, what="video after the kill")
        again = manager.recording(info.record_id).pid
        assert again not in (None, pid) and writers_of([first_part]) == [again]
        assert not first_part.with_name("part-0002.mp4").exists()
        assert manager.get(info.record_id).path == first_part
        inode = first_part.stat().st_ino
        done = await manager.stop(info.record_id)
    assert done.path.stat().st_ino == inode  # the recorded file is the final file: renamed, not joined
    assert_final_file(done, tmp_path)
    assert len(done.gaps) == 1


async def test_camera_that_never_answers_fails_the_record_with_the_reason(tmp_path: Path) -> None:
    spec = CameraSpec(1, rtsp_url=f"rtsp://admin:hunter22@127.0.0.1:{free_port()}/stream")
    async with open_manager(tmp_path) as manager:
        record_id = str(uuid.uuid4())
        await manager.start(record_id, "tag-1", spec, None)
        await await_until(lambda: manager.get(record_id).error, what="an error")
        assert manager.get(record_id).status == "recording"  # it keeps trying
        done = await manager.stop(record_id)
    assert done.status == "failed"
    assert done.error is not None and "no video" in done.error and "Connection refused" in done.error
    assert "hunter22" not in done.error
    assert not done.path.exists()
