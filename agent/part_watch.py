"""The watchdog of one RTSP recording run: is video arriving in the part, and has it stopped?

Health signals, as Frigate uses them: the process exited, or the part file has not grown for
`stall_timeout_s` (a camera that keeps its TCP session open but sends nothing). Before the first
video a longer grace applies, since ffmpeg probes the stream (~2 s) before it writes anything.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.ffmpeg.process import FfmpegProcess
from agent.record_files import has_fragment, probe_duration

log = logging.getLogger(__name__)

POLL_S = 0.25  # how often the part's size is looked at


class WatchEnd:
    STOPPED = "stopped"  # stop was asked
    EXITED = "exited"  # ffmpeg exited by itself
    STALLED = "stalled"  # no growth for the stall time-out (or no video within the grace)


@dataclass
class PartWatch:
    proc: FfmpegProcess
    part: Path
    started: float  # wall time ffmpeg was started: the video of this run begins about then
    stall_timeout_s: float
    start_grace_s: float
    on_video: Callable[[float], None]  # called once, with the wall time of the part's first frame
    ffmpeg_bin: str = "ffmpeg"
    had_video: bool = False
    video_end: float | None = None  # wall time the video stopped, unless the run was stopped
    end: str = WatchEnd.STOPPED

    async def run(self, stop: asyncio.Event) -> bool:
        """Watch until stop, exit or stall; return whether video came."""
        last_size, last_growth, last_growth_mono = -1, self.started, time.monotonic()
        exited = asyncio.ensure_future(self.proc.wait())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while True:
                await asyncio.wait({exited, stopped}, timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED)
                size, mtime = _size_and_mtime(self.part)
                if size > last_size:
                    last_size = size
                    if not self.had_video and has_fragment(self.part):
                        self.had_video = True
                        self.on_video(await self._first_frame_time())
                    if self.had_video:
                        last_growth, last_growth_mono = time.time(), time.monotonic()
                if stopped.done():
                    self.end = WatchEnd.STOPPED
                    return self.had_video
                if exited.done():
                    # ffmpeg's last write, the flush at its exit, is when the camera went away.
                    self.end, self.video_end = WatchEnd.EXITED, mtime
                    return self.had_video
                silent = time.monotonic() - last_growth_mono
                if silent > (self.stall_timeout_s if self.had_video else self.start_grace_s):
                    log.warning(
                        "%s: no %s for %.1f s, restarting ffmpeg",
                        self.proc.name,
                        "file growth" if self.had_video else "video",
                        silent,
                    )
                    # Not the mtime: SIGTERM makes ffmpeg flush once more, long after the last video.
                    self.end, self.video_end = WatchEnd.STALLED, last_growth
                    return self.had_video
        finally:
            exited.cancel()
            stopped.cancel()

    async def _first_frame_time(self) -> float:
        """Now minus the media the part already holds. ffmpeg writes what it buffered while probing
        in one go, and stream copy starts at the first keyframe: the run's start time would be early
        by the connect time plus up to one GOP."""
        now = time.time()
        duration = await probe_duration(self.part, self.ffmpeg_bin)
        return self.started if duration is None else max(self.started, now - duration)


def _size_and_mtime(path: Path) -> tuple[int, float]:
    # A stat is microseconds: fine on the event loop, four times a second per record.
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0, time.time()
    return st.st_size, st.st_mtime
