"""How a record opens its RTSP camera, with real ffmpeg and the real camera: fast on the first
attempt (audio kept), and with ffmpeg's full probing at once and from then on when a fast open
lacked the camera's codec parameters."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import pytest

from agent.cameras.spec import CameraSpec
from agent.ffmpeg.fast_open import FAST_OPEN
from agent.recording.attempt import FAST_OPEN_FAILED
from agent.recording.manager import StartEntry
from tests.agent.recording.support import assert_final_file, open_manager, wait_video
from videorec_testing.cameras import Viewer, start_rtsp_camera
from videorec_testing.media import ffprobe_json
from videorec_testing.wait import await_until

pytestmark = pytest.mark.anyio

# One packet of probing (the still grabs'): it lacks the parameters of a camera joined between
# keyframes whose SDP has no sprop-parameter-sets, a real failure to fall back from.
ONE_PACKET = {"analyzeduration": "0", "probesize": "32"}


def streams(path: Path) -> list[tuple[str, int | None, int | None]]:
    return [(s["codec_name"], s.get("width"), s.get("height")) for s in ffprobe_json(path)["streams"]]


async def test_a_camera_with_audio_opens_fast_at_the_first_attempt_and_keeps_its_audio(
    tmp_path: Path,
) -> None:
    with start_rtsp_camera(audio="aac") as cam:
        async with open_manager(tmp_path) as manager:
            record_id = str(uuid.uuid4())
            entry = StartEntry(record_id, "tag-1", CameraSpec(1, rtsp_url=cam.url), None)
            await manager.start_many([entry], wait_s=30)
            assert manager.opened(record_id) and manager.recording(record_id).attempts == 1
            pid = manager.recording(record_id).pid
            assert pid is not None
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            assert all(f"-{key}".encode() in argv for key in FAST_OPEN)
            await wait_video(manager.get(record_id).path, 2.0)
            done = await manager.stop(record_id)
    assert_final_file(done, tmp_path)
    assert streams(done.path) == [("h264", 640, 360), ("aac", None, None)]


async def test_a_camera_that_a_fast_open_cannot_read_is_probed_fully_at_once_and_from_then_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.recording.recorder")
    with start_rtsp_camera(sprop=False, keyframe_interval=2.0) as cam, Viewer(cam.url, tmp_path) as viewer:
        # Full probing waits up to a keyframe interval, then ~2 s: a watchdog grace well above that.
        async with open_manager(tmp_path / "root", fast_open=ONE_PACKET, stall_timeout_s=10.0) as manager:
            await asyncio.to_thread(viewer.after_keyframe)  # the next keyframe is 2 s away
            record_id = str(uuid.uuid4())
            entry = StartEntry(record_id, "tag-1", CameraSpec(1, rtsp_url=cam.url), None)
            await manager.start_many([entry], wait_s=30)
            recording = manager.recording(record_id)
            # The start answered once the second ffmpeg had opened the camera, not after the first failed.
            assert manager.opened(record_id) and recording.attempts == 2, caplog.text
            assert "probing fully from now on" in caplog.text
            assert "retry_wait" not in caplog.text  # no back-off: the camera was not at fault
            assert recording.pid is not None
            argv = Path(f"/proc/{recording.pid}/cmdline").read_bytes().split(b"\0")
            assert b"-probesize" not in argv and b"-fpsprobesize" not in argv
            info = manager.get(record_id)
            await await_until(lambda: manager.get(record_id).growing, 30, what="video")
            await wait_video(info.path, 2.0)
            done = await manager.stop(record_id)
    assert_final_file(done, tmp_path / "root")
    assert streams(done.path) == [("h264", 640, 360)]
    # What the failed attempt waited is a gap at the start, as for a camera that sent nothing at first;
    # it says why, and the camera, not at fault, has no error on the record.
    assert done.error is None and len(done.gaps) <= 1
    assert all(cause == FAST_OPEN_FAILED for cause in done.details()), done.gap_details


async def test_a_record_stopped_as_soon_as_its_camera_is_open_still_holds_its_video(tmp_path: Path) -> None:
    with start_rtsp_camera(keyframe_interval=2.0) as cam, Viewer(cam.url, tmp_path) as viewer:
        async with open_manager(tmp_path / "root") as manager:
            await asyncio.to_thread(viewer.after_keyframe)  # the camera's next keyframe is 2 s away
            record_id = str(uuid.uuid4())
            entry = StartEntry(record_id, "tag-1", CameraSpec(1, rtsp_url=cam.url), None)
            await manager.start_many([entry], wait_s=0)  # a stop that does not wait for the start
            part = manager.get(record_id).path  # before any video: the part being connected
            await await_until(part.exists, 10, what="the camera opened (the part made)")
            # Open, no video yet: the start is still waiting for the first fragment.
            assert not manager.opened(record_id) and not manager.get(record_id).growing
            done = await manager.stop(record_id)
    assert_final_file(done, tmp_path / "root")
    assert streams(done.path) == [("h264", 640, 360)]
