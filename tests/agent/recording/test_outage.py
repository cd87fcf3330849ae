"""A camera outage: the gap on the record is the outage itself, and the record file plays on."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from agent.cameras.spec import CameraSpec
from tests.agent.recording.support import (
    assert_final_file,
    duration_of,
    open_manager,
    start_and_wait_for_video,
    wait_video,
)
from videorec_testing.cameras import start_rtsp_camera
from videorec_testing.wait import await_until

pytestmark = pytest.mark.anyio

# Attempts after the drop at ~0, 1, 3, 7, then 15 s: the camera comes back after the third failed
# reconnection, inside the 8 s blind wait that follows it.
FAILED_RECONNECTIONS = 3


async def test_a_camera_back_from_an_outage_is_recorded_again_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.recording.recorder")
    cam = start_rtsp_camera()
    try:
        # A long back-off: blind waits (1, 2, 4, 8 s) would reconnect ~3 s after the camera is back.
        async with open_manager(tmp_path, max_backoff_s=30.0) as manager:
            info = await start_and_wait_for_video(manager, CameraSpec(1, rtsp_url=cam.url))
            await wait_video(info.path, 2.0)
            seen = len(caplog.text)
            cam.stop()
            down_at = time.time()
            failed = f"record {info.record_id}: connecting -> retry_wait"
            await await_until(
                lambda: caplog.text[seen:].count(failed) >= FAILED_RECONNECTIONS,
                timeout=60,
                what=f"{FAILED_RECONNECTIONS} failed reconnections",
            )
            before = duration_of(info.path)  # all of the first run, followed long since
            cam.restart()
            back_at = time.time()
            await await_until(lambda: duration_of(info.path) > before + 1.0, timeout=30, what="video again")
            done = await manager.stop(info.record_id)
    finally:
        cam.stop()
    assert_final_file(done, tmp_path)
    [(gap_start, gap_end, _reason)] = done.gaps
    assert gap_start <= down_at + 0.5, (gap_start, down_at)
    # Reconnected because the probe saw the camera, not because a blind back-off (8 s by then) ended.
    assert "camera answers again, reconnecting" in caplog.text
    # The probe sees it within 0.5 s; ffmpeg's connection and probing, ~1-2 s on a loaded machine.
    assert gap_end - back_at < 6.0, (gap_end - back_at, done.gaps)


async def test_why_the_camera_dropped_stays_with_the_gap_and_as_the_records_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What a heartbeat would report at any moment after a short outage says why the video has a
    hole: the control plane must not depend on a beat landing while the camera was away."""
    caplog.set_level(logging.INFO, logger="agent.recording.recorder")
    cam = start_rtsp_camera()
    try:
        async with open_manager(tmp_path) as manager:
            info = await start_and_wait_for_video(manager, CameraSpec(1, rtsp_url=cam.url))
            await wait_video(info.path, 1.0)
            seen = len(caplog.text)
            cam.stop()
            failed = f"record {info.record_id}: connecting -> retry_wait"
            await await_until(lambda: failed in caplog.text[seen:], timeout=30, what="a failed reconnection")
            cam.restart()
            back = await await_until(
                lambda: (now := manager.get(info.record_id)).gaps and now, timeout=30, what="the gap closed"
            )
            done = await manager.stop(info.record_id)
    finally:
        cam.stop()
    assert_final_file(done, tmp_path)
    for report in (back, done):  # while recording again, and once completed
        [cause] = report.details()
        assert cause and report.error == cause, (report.error, report.gap_details)
        # In the camera's words (refused, closed, an RTSP error), not those of our ffmpeg's script input.
        assert not cause.startswith("pipe:"), cause


async def test_a_record_stopped_while_its_camera_is_down_ends_with_a_gap_to_the_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """begin..end minus the gaps is what the file holds, also when the camera never came back."""
    caplog.set_level(logging.INFO, logger="agent.recording.recorder")
    cam = start_rtsp_camera()
    try:
        async with open_manager(tmp_path) as manager:
            info = await start_and_wait_for_video(manager, CameraSpec(1, rtsp_url=cam.url))
            await wait_video(info.path, 2.0)
            seen = len(caplog.text)
            cam.stop()
            down_at = time.time()
            failed = f"record {info.record_id}: connecting -> retry_wait"
            await await_until(lambda: failed in caplog.text[seen:], timeout=30, what="a failed reconnection")
            done = await manager.stop(info.record_id)
    finally:
        cam.stop()
    assert_final_file(done, tmp_path)
    [(gap_start, gap_end, _reason)] = done.gaps
    assert done.end_unix is not None and gap_end == done.end_unix
    assert abs(gap_start - down_at) < 1.5, (gap_start, down_at)
    [cause] = done.details()
    assert cause and done.error == cause
    span = done.end_unix - done.begin_unix - (gap_end - gap_start)
    assert done.duration_s is not None and abs(done.duration_s - span) < 1.0, (done.duration_s, span)
