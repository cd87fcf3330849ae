"""After a reconnect, the record's next ffmpeg continues the record's file itself: one writer, no
part file, no recorded byte written twice, and the file still reads as one recording."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agent.cameras.spec import CameraSpec
from agent.files.fmp4 import Fragment, read_box, top_boxes
from agent.recording.orphans import writers_of
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


async def test_a_camera_back_from_a_drop_is_recorded_into_the_same_file_by_its_new_ffmpeg(
    tmp_path: Path,
) -> None:
    # Audio beside the video, and B-frames (decode times before presentation times): the cases in
    # which continuing the media time is easiest to get wrong.
    cam = start_rtsp_camera(audio="aac", bframes=2)
    try:
        async with open_manager(tmp_path) as manager:
            info = await start_and_wait_for_video(manager, CameraSpec(1, rtsp_url=cam.url))
            await wait_video(info.path, 2.0)
            first = manager.recording(info.record_id).pid
            cam.stop()
            await await_until(lambda: manager.recording(info.record_id).pid != first, what="the drop")
            before = duration_of(info.path)
            cam.restart()
            await await_until(lambda: duration_of(info.path) > before + 2.0, timeout=30, what="video again")
            # The new ffmpeg writes the record's file (a descriptor it inherited), and nothing else
            # holds what it records.
            pid = manager.recording(info.record_id).pid
            assert pid is not None and pid != first and writers_of([info.path]) == [pid]
            assert [p for p in info.path.parent.iterdir() if p != info.path] == []
            assert writers_of([info.path.with_name("part-0002.mp4")]) == []
            done = await manager.stop(info.record_id)
    finally:
        cam.stop()
    assert_final_file(done, tmp_path)
    assert len(done.gaps) == 1, done.gaps

    kinds, fragments = _layout(done.path)
    # One header; the second ffmpeg's own header is a `free` box that every player skips.
    assert kinds[:2] == [b"ftyp", b"moov"] and kinds.count(b"ftyp") == 1 and kinds.count(b"moov") == 1
    assert kinds.count(b"free") == 1 and set(kinds[2:]) == {b"moof", b"mdat", b"free"}, kinds
    # Numbered on from the first ffmpeg's fragments, and each track's media time never goes back.
    assert [frag.sequence for frag in fragments] == list(range(1, len(fragments) + 1))
    ends: dict[int, int] = {}
    for frag in fragments:
        for track, (tfdt, duration, _pos) in frag.times.items():
            assert tfdt >= ends.get(track, 0), (track, tfdt, ends)
            ends[track] = tfdt + duration
    assert len(ends) == 2  # video and audio all through
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(done.path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert decoded.stderr == ""  # no non-monotonic timestamps, nothing corrupt


def _layout(path: Path) -> tuple[list[bytes], list[Fragment]]:
    with path.open("rb") as f:
        boxes = list(top_boxes(f, 0, os.fstat(f.fileno()).st_size))
        fragments = [Fragment.parse(read_box(f, box)) for box in boxes if box.type == b"moof"]
    return [box.type for box in boxes], fragments
