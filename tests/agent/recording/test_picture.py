"""Recording a PictureSource: HTTP stills (digest auth) fed to ffmpeg as a time-lapse."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agent.cameras.spec import CameraSpec
from tests.agent.recording.support import assert_final_file, open_manager, start_and_wait_for_video
from tests.support.cameras import start_http_camera

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
            await asyncio.sleep(4 - (time.time() - info.begin_unix))
            done = await manager.stop(info.record_id)
        assert cam.stats()["requests"] >= 6
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
            await asyncio.sleep(1)
            cam.stop()
            await asyncio.sleep(2)
            cam.restart()
            await asyncio.sleep(1.5)
            done = await manager.stop(info.record_id)
    finally:
        cam.stop()
    duration = assert_final_file(done, tmp_path)
    assert done.end_unix is not None
    assert abs(duration - (done.end_unix - done.begin_unix)) < 1.5, duration  # frozen, not shortened
    [(gap_start, gap_end)] = done.gaps
    assert 1.5 < gap_end - gap_start < 4, done.gaps
