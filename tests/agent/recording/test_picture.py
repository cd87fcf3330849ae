"""Recording a PictureSource: HTTP stills (digest auth) fed to ffmpeg as a time-lapse."""

from __future__ import annotations

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
from videorec_testing.cameras import start_http_camera
from videorec_testing.wait import await_until

pytestmark = pytest.mark.anyio
INTERVAL_S = 0.5


async def test_picture_source_records_h264_as_long_as_the_wall_time(tmp_path: Path) -> None:
    cam = start_http_camera(auth="digest", user="admin", password="pic-secret")
    try:
        spec = CameraSpec(
            2, picture_url=cam.url, picture_auth="digest", picture_user="admin", picture_password="pic-secret"
        )
        async with open_manager(tmp_path, picture_interval_s=INTERVAL_S) as manager:
            info = await start_and_wait_for_video(manager, spec)
            # Eight stills, one each half second: a time-lapse of about four seconds of wall time.
            await await_until(lambda: cam.stats()["requests"] >= 8, 30, what="eight stills")
            done = await manager.stop(info.record_id)
    finally:
        cam.stop()
    duration = assert_final_file(done, tmp_path)
    assert done.end_unix is not None
    # A time-lapse frame stands for one interval of wall time: the file is off by less than one.
    assert abs(duration - (done.end_unix - done.begin_unix)) <= INTERVAL_S, duration


async def test_picture_source_repeats_the_last_frame_while_the_camera_is_away(tmp_path: Path) -> None:
    cam = start_http_camera()
    try:
        async with open_manager(tmp_path, picture_interval_s=0.5) as manager:
            info = await start_and_wait_for_video(manager, CameraSpec(2, picture_url=cam.url))
            held = await wait_video(info.path, 1.0)
            cam.stop()
            gone_at = time.time()
            # While the camera is away the time-lapse goes on with its last frame: two more seconds.
            await wait_video(info.path, held + 2.0)
            cam.restart()
            back_at = time.time()
            await await_until(lambda: manager.get(info.record_id).gaps, what="the gap closed")
            await wait_video(info.path, duration_of(info.path) + 1.0)
            done = await manager.stop(info.record_id)
    finally:
        cam.stop()
    duration = assert_final_file(done, tmp_path)
    assert done.end_unix is not None
    assert abs(duration - (done.end_unix - done.begin_unix)) < 1.5, duration  # frozen, not shortened
    [(gap_start, gap_end, _reason)] = done.gaps
    # The gap is the outage, give or take a frame interval and a fetch.
    assert abs((gap_end - gap_start) - (back_at - gone_at)) < 1.5, (done.gaps, back_at - gone_at)
    # Why, kept with the gap and as the record's error after the camera came back.
    assert done.details() == [done.error] and done.error, (done.error, done.gap_details)
