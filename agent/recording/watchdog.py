"""The watchdog of one RTSP recording run: is video arriving in the part, and has it stopped?

Health signals, as Frigate uses them: the process exited, or the part file has not grown for
`stall_timeout_s` (a camera that keeps its TCP session open but sends nothing). Before the first
video a longer grace applies: the first fragment waits for the camera's next keyframe, and with
full probing for ~2 s of stream probing too.
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
from agent.files.duration import part_duration
from agent.files.layout import has_fragment
from agent.recording.states import WatchEnd

log = logging.getLogger(__name__)

POLL_S = 0.25  # how often the part's size is looked at
# A stop that comes once the camera is open (the part exists) but before its first fragment waits
# this long for it: ffmpeg opens in ~0.3 s, the first fragment needs the camera's next keyframe and
# a fragment's second. So a record stopped right after its start still holds its camera's video.
STOP_WAITS_FOR_VIDEO_S = 5.0
REFINE_S = 2.5  # how long the first frame's time is refined (a couple of fragments)


@dataclass
class PartWatch:
    proc: FfmpegProcess
    part: Path
    started: float  # wall time ffmpeg was started: the video of this run begins about then
    stall_timeout_s: float
    start_grace_s: float
    on_video: Callable[[float], None]  # called once, with the wall time of the part's first frame
    on_refine: Callable[[float], None] = lambda _earlier: None  # a closer (earlier) value of that time
    ffmpeg_bin: str = "ffmpeg"
    ready: asyncio.Event | None = None  # video is reported only once set (an orphan's handover)
    since: int = 0  # where this run's bytes begin in `part` (an ffmpeg continuing the record's file)
    had_video: bool = False
    video_end: float | None = None  # wall time the video stopped, unless the run was stopped
    end: WatchEnd = WatchEnd.STOPPED
    _first_frame: float | None = None
    _refine_until: float = 0.0
    _reported: bool = False
    _reported_value: float = 0.0

    async def run(self, stop: asyncio.Event) -> bool:
        """Watch until stop, exit or stall; return whether video came."""
        last_size, last_growth, last_growth_mono = -1, self.started, time.monotonic()
        exited = asyncio.ensure_future(self.proc.wait())
        stopped = asyncio.ensure_future(stop.wait())
        stop_deadline: float | None = None
        try:
            while True:
                waits = {exited} if stopped.done() else {exited, stopped}
                await asyncio.wait(waits, timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED)
                size, mtime = _size_and_mtime(self.part)
                if size > last_size:
                    last_size = size
                    if not self.had_video and has_fragment(self.part, self.since):
                        self.had_video = True
                        self._refine_until = time.monotonic() + REFINE_S
                    if self.had_video:
                        last_growth, last_growth_mono = time.time(), time.monotonic()
                        if time.monotonic() < self._refine_until:
                            await self._estimate_first_frame()
                self._report_video()
                if stopped.done():
                    stop_deadline = stop_deadline or time.monotonic() + STOP_WAITS_FOR_VIDEO_S
                    waited = exited.done() or time.monotonic() > stop_deadline
                    if self.had_video or size == 0 or waited:
                        self.end = WatchEnd.STOPPED
                        return self.had_video
                    continue  # opened, its first fragment on the way
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

    async def _estimate_first_frame(self) -> None:
        """The wall time of the part's first frame: now minus the media the part holds.

        ffmpeg writes what it buffered while probing in one go and then whole fragments, so the file
        lags real time by anything up to a fragment: now - duration is never early, only late by that
        lag. The smallest value seen while the first fragments arrive is the closest.

        "Now" is when ffmpeg wrote what was measured (the part's mtime, read after it): a busy agent
        that polls late must not make the estimate late too."""
        now = time.time()
        duration = await part_duration(self.part, self.ffmpeg_bin, self.since)  # in-process: no ffprobe
        if duration is not None:
            written = min(now, _size_and_mtime(self.part)[1])
            estimate = max(self.started, written - duration)
            self._first_frame = estimate if self._first_frame is None else min(self._first_frame, estimate)

    def _report_video(self) -> None:
        """Report video at once (so the journal knows before anything can go wrong), then each
        closer estimate of its first frame's time while the first fragments arrive."""
        if not self.had_video or self._first_frame is None:
            return
        if self.ready is not None and not self.ready.is_set():
            return
        if not self._reported:
            self._reported, self._reported_value = True, self._first_frame
            self.on_video(self._first_frame)
        elif self._first_frame < self._reported_value:
            self._reported_value = self._first_frame
            self.on_refine(self._first_frame)


def _size_and_mtime(path: Path) -> tuple[int, float]:
    # A stat is microseconds: fine on the event loop, four times a second per record.
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0, time.time()
    return st.st_size, st.st_mtime
