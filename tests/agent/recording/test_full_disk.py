"""A full disk: below the reserve the record pauses (a gap, a detail), goes on by itself once space
returns, and its stop completes with an MD5 of what is served. On a small tmpfs the test mounts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cameras.spec import CameraSpec
from agent.files.space import free_bytes
from agent.recording.orphans import writers_of
from tests.agent.recording.support import (
    assert_final_file,
    md5_of,
    open_manager,
    start_and_wait_for_video,
)
from videorec_testing.cameras import start_rtsp_camera
from videorec_testing.wait import await_until

pytestmark = pytest.mark.anyio

MIB = 1 << 20
RESERVE = 16 * MIB


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("mounting a tmpfs needs root (CI runs as root and never skips this)")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


async def test_a_full_disk_pauses_the_record_and_space_back_resumes_it(small_disk: Path) -> None:
    cam = start_rtsp_camera(bitrate=4000)
    try:
        async with open_manager(small_disk, min_free_bytes=RESERVE) as manager:
            info = await start_and_wait_for_video(manager, CameraSpec(1, rtsp_url=cam.url), tag="tag-1")
            filler = small_disk / "filler"
            # Leave 2 MiB above the reserve: the camera fills it in a few seconds.
            filler.write_bytes(b"\0" * (free_bytes(small_disk) - RESERVE - 2 * MIB))
            await await_until(
                lambda: manager.get(info.record_id).phase == "paused", timeout=60, what="the pause"
            )
            paused = manager.get(info.record_id)
            assert paused.status == "recording" and "disk full" in (paused.error or "")
            assert manager.paused_count() == 1
            assert free_bytes(small_disk) > RESERVE // 4  # the journal and a stop still have room
            size_when_paused = paused.path.stat().st_size
            assert manager.recording(info.record_id).pid is None  # no ffmpeg while paused
            # A genuine sleep: that it stays paused (free space is looked at every 0.5 s) can only be
            # seen by letting a few of those checks pass.
            await asyncio.sleep(1)
            assert manager.get(info.record_id).phase == "paused"

            filler.unlink()
            space_back = time.monotonic()
            await await_until(lambda: manager.get(info.record_id).phase != "paused", what="the resume")
            assert time.monotonic() - space_back < 5.0  # the free space is looked at every 0.5 s
            await await_until(lambda: paused.path.stat().st_size > size_when_paused + MIB, what="video again")
            done = await manager.stop(info.record_id)
    finally:
        cam.stop()
    assert_final_file(done, small_disk)
    assert done.hash_md5 == md5_of(done.path)
    [(gap_start, gap_end, reason)] = done.gaps
    assert gap_end - gap_start >= 1.0 and reason == "disk", done.gaps


async def test_a_disk_that_fills_after_a_resume_loses_no_record_and_writes_no_byte_twice(
    small_disk: Path,
) -> None:
    """After a pause for space the next ffmpeg continues the record's file itself: no part file of
    its own, so nothing it records is written twice (once by ffmpeg, once copied). The disk then
    fills to the last few hundred KiB and the record is stopped: a stop needs no room. The record
    ends completed, its MD5 that of the file, what could not be kept a `disk` gap."""
    cam = start_rtsp_camera(bitrate=4000)
    try:
        async with open_manager(small_disk, min_free_bytes=4 * MIB) as manager:
            info = await start_and_wait_for_video(manager, CameraSpec(1, rtsp_url=cam.url), tag="tag-1")
            filler = small_disk / "filler"
            filler.write_bytes(b"\0" * (free_bytes(small_disk) - 4 * MIB - MIB))
            await await_until(lambda: manager.get(info.record_id).phase == "paused", timeout=60, what="pause")
            size_when_paused = info.path.stat().st_size
            filler.unlink()  # space back: the record goes on, its new ffmpeg writing the same file
            await await_until(
                lambda: (
                    manager.get(info.record_id).phase == "recording"
                    and info.path.stat().st_size > size_when_paused + MIB
                ),
                timeout=60,
                what="the resumed ffmpeg's video in the record's file",
            )
            # The ffmpeg recording now writes the record's file (through a descriptor it inherited),
            # and no other file holds what it recorded.
            pid = manager.recording(info.record_id).pid
            assert pid is not None and writers_of([info.path]) == [pid]
            others = [p for p in info.path.parent.iterdir() if p != info.path]
            assert others == [], others
            assert info.path.stat().st_blocks * 512 < info.path.stat().st_size + MIB  # held once

            fill_leaving(small_disk / "full", 256 * 1024)
            done = await manager.stop(info.record_id)
    finally:
        cam.stop()
    assert done.status == "completed", done.error
    assert done.hash_md5 == md5_of(done.path) and done.size_bytes == done.path.stat().st_size
    reasons = [reason for _start, _end, reason in done.gaps]
    assert reasons and set(reasons) == {"disk"}, done.gaps


def fill_leaving(path: Path, leave: int) -> None:
    """Fill the disk to its last `leave` bytes (ffmpeg writing meanwhile: write until it is full)."""
    with path.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * MIB)
                f.flush()
        except OSError:
            pass
    with path.open("r+b") as f:
        f.truncate(max(0, os.stat(path).st_size - leave))
