"""One attempt of a recording: one ffmpeg run writing one part, watched until stop, exit or stall
(RTSP), or fed the camera's still images (picture-only); what it brought goes into the timeline.

MediaMTX's `recorder_instance`: the restart loop (`recorder`) makes a new one after each failure."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import httpx

from agent.cameras.dial import check_dial
from agent.errors import CameraError
from agent.ffmpeg.commands import (
    InPlaceOutput,
    camera_error,
    picture_record_argv,
    record_command,
    records_live,
)
from agent.ffmpeg.fast_open import FAST_OPEN, lacked_parameters
from agent.ffmpeg.live_commands import FRAGMENT_US
from agent.ffmpeg.process import FfmpegProcess
from agent.files.layout import has_fragment
from agent.files.space import free_bytes
from agent.live.session import Feed
from agent.live.session_hub import SessionHub
from agent.recording.live_copy import open_feed, pump
from agent.recording.orphans import Handover
from agent.recording.picture_feed import PictureFeed
from agent.recording.states import PartOutcome, Phase, WatchEnd
from agent.recording.timeline import Timeline
from agent.recording.watchdog import PartWatch

# Before the first fragment: ffmpeg's default probing alone takes ~2 s, and the first keyframe up to
# the camera's keyframe interval.
_MIN_START_GRACE_S = 5.0
_STOP_GRACE_S = 5.0  # SIGTERM lets ffmpeg write its last fragment; then SIGKILL
# How often a new ffmpeg's part is looked at until it holds a fragment: a group start waits for it.
# A few box headers read are microseconds; it stops as soon as the fragment is there.
_OPEN_POLL_S = 0.05
# The cause of the gap at the start of a record whose camera a fast open could not read.
FAST_OPEN_FAILED = "the camera's codec parameters were not in its first packets: opened again, probing fully"


@dataclass(frozen=True)
class RecorderConfig:
    ffmpeg_bin: str
    stall_timeout_s: float = 10.0
    max_backoff_s: float = 5.0
    picture_interval_s: float = 1.0
    storage_root: Path | None = None  # the disk whose free space is watched (None: not watched)
    reserve_bytes: int = 0  # below this many free bytes retention evicts; below half, records pause
    # How an RTSP camera is opened until ffmpeg says that was not enough for it (then: full probing).
    fast_open: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(FAST_OPEN))
    # The agent's camera sessions: a recording of the default template writes its camera's (None:
    # every recording only records, and a camera watched too has its own live session).
    sessions: SessionHub | None = None

    def space_low(self) -> bool:
        """The disk is full: below half the reserve, so retention (which keeps the whole reserve
        free when it can) found nothing to evict. The other half keeps the journal and stops safe."""
        return self.storage_root is not None and free_bytes(self.storage_root) < self.reserve_bytes // 2


class Attempt:
    """`await run(stop)` once; `proc` is its ffmpeg (for the pid while it runs)."""

    def __init__(
        self,
        timeline: Timeline,
        config: RecorderConfig,
        http: httpx.AsyncClient,
        transition: Callable[[Phase], None],
        on_open: Callable[[], None] = lambda: None,
        handover: Handover | None = None,
        *,
        fast_open: bool = True,
    ) -> None:
        """`on_open` is called once this ffmpeg has opened the camera and its video has come: for
        RTSP when its part holds a first fragment, for a picture camera with the first image.
        `handover`: a dead agent's ffmpeg, stopped then (or when this run ends); this run's video
        counts only after that. `fast_open`: open the RTSP camera with `config.fast_open`, not with
        ffmpeg's full probing."""
        self._timeline = timeline
        self._handover = handover
        self._on_open = on_open
        self._config = config
        self._http = http
        self._transition = transition
        self.part = timeline.new_part()
        # What the watchdog looks at: the part, or the record's file from `_since` on when this
        # ffmpeg continues it in place (`_go_in_place`).
        self._watched, self._since = self.part, 0
        # Set when this fast-opened ffmpeg failed for lack of codec parameters: probe fully next time.
        self.needs_full_probe = False
        spec, name = timeline.row.spec, f"record-{timeline.row.record_id[:8]}"
        self._fast_open = fast_open and bool(config.fast_open) and bool(spec.rtsp_url)
        # Also the camera's live view (agent.ffmpeg.tee): one session to the camera, not two.
        self._live = (
            bool(spec.rtsp_url) and config.sessions is not None and records_live(timeline.row.ffmpeg_cmd)
        )
        if spec.rtsp_url:
            self.proc = self._rtsp_process()
        else:
            argv = picture_record_argv(config.ffmpeg_bin, self.part, config.picture_interval_s)
            self.proc = FfmpegProcess(argv, name=name, secrets=spec.secrets, stdin_pipe=True)

    def _rtsp_process(self, in_place: InPlaceOutput | None = None) -> FfmpegProcess:
        spec, config = self._timeline.row.spec, self._config
        assert spec.rtsp_url is not None
        command = record_command(
            self._timeline.row.ffmpeg_cmd,
            spec.rtsp_url,
            str(self.part),
            config.ffmpeg_bin,
            open_options=config.fast_open if self._fast_open else {},
            live_fragment_us=FRAGMENT_US if self._live else None,
            in_place=in_place,
        )
        return FfmpegProcess(
            command.argv,
            name=f"record-{self._timeline.row.record_id[:8]}",
            secrets=spec.secrets,
            stdin_data=command.stdin,
            stdout_pipe=self._live,
            output_fd=in_place.fd if in_place is not None else None,
        )

    async def _go_in_place(self) -> None:
        """A later run of the default template continues the record's file itself (no byte it
        records is written twice): not while a dead agent's ffmpeg may still write that file."""
        timeline = self._timeline
        if not records_live(timeline.row.ffmpeg_cmd):
            return
        if self._handover is not None and not self._handover.done.is_set():
            return
        start = await timeline.begin_in_place(self.part)
        if start is None or timeline.file is None:
            return
        fd = os.open(timeline.file.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            self.proc = self._rtsp_process(InPlaceOutput(fd, start.fragment_index, start.ts_offset_s))
        except BaseException:
            os.close(fd)
            raise
        self._watched, self._since = timeline.file.path, start.offset

    async def run(self, stop: asyncio.Event) -> PartOutcome:
        timeline, proc, part = self._timeline, self.proc, self.part
        self._transition(Phase.CONNECTING)
        started = time.time()
        feed: Feed | None = None
        pumping: asyncio.Task[None] | None = None
        refusal: asyncio.Task[None] | None = None
        try:
            if timeline.row.spec.rtsp_url:
                await check_dial(timeline.row.spec)  # a picture feed checks before each fetch
                await self._go_in_place()
                proc = self.proc
                if self._live:
                    feed = await open_feed(self._config.sessions, timeline.row.spec)
            await proc.start()
            if self._since:
                refusal = asyncio.create_task(self._end_when_refused(), name=f"{proc.name}-refused")
            if self._live:
                pumping = asyncio.create_task(pump(proc, feed), name=f"{proc.name}-live")
            if self._handover is not None and not timeline.row.spec.rtsp_url:
                await self._handover.complete()  # a picture feed has no orphan worth overlapping
            if timeline.row.spec.rtsp_url:
                opener = asyncio.create_task(self._notice_open(), name=f"{proc.name}-open")
                try:
                    had_video = await self._watch(stop, started)
                finally:
                    opener.cancel()
            else:
                had_video = await self._feed_pictures(stop)
        except OSError as exc:
            timeline.set_error(f"cannot run ffmpeg: {exc.strerror}")
            had_video = False
        except CameraError as exc:
            timeline.set_error(exc.detail)
            had_video = False
        finally:
            if refusal is not None:
                refusal.cancel()
            await proc.stop(_STOP_GRACE_S)  # read until its exit: its last writes must not block it
            if pumping is not None:
                await asyncio.wait({pumping})
            if feed is not None:
                feed.close()  # its viewers go on with the session's own ffmpeg
            if self._handover is not None:
                await self._handover.complete()  # no-op once done; else the orphan stops now
        tail = proc.stderr_tail()
        if not had_video:
            self.needs_full_probe = self._fast_open and lacked_parameters(tail)
            timeline.drop_part(part, started)
            if self.needs_full_probe:  # not the camera's failure: the next ffmpeg starts at once
                timeline.note_cause(FAST_OPEN_FAILED)
            elif tail:
                timeline.set_error(camera_error(tail[-1]))
            return PartOutcome.NO_VIDEO
        if not stop.is_set() and tail and timeline.cause is None:
            timeline.set_error(camera_error(tail[-1]))  # why the camera dropped (unless a stall said so)
        return PartOutcome.VIDEO

    async def _end_when_refused(self) -> None:
        """The record's file refused this in-place ffmpeg's header (the camera's codec changed):
        it ends now, like a camera that dropped, and the next run writes a part of its own."""
        await self._timeline.in_place_refused.wait()
        await self.proc.stop(_STOP_GRACE_S)

    def _on_video(self, since: float) -> None:
        self._timeline.on_video(self.part, since)
        self._transition(Phase.RECORDING)
        self._on_open()

    async def _notice_open(self) -> None:
        """Until the part holds its first fragment (or ffmpeg is gone): then the camera is open and
        its video is on disk. Not the part's mere existence: opened fast, ffmpeg creates it before
        the camera's next keyframe, which may be seconds away (and an orphan stopped then would
        leave that as a gap)."""
        while self.proc.running:
            if has_fragment(self._watched, self._since):  # a few box headers read: microseconds
                self._on_open()
                if self._handover is not None:
                    await self._handover.complete()
                return
            await asyncio.sleep(_OPEN_POLL_S)

    async def _watch(self, stop: asyncio.Event, started: float) -> bool:
        timeline, config = self._timeline, self._config
        watch = PartWatch(
            self.proc,
            self._watched,
            started,
            config.stall_timeout_s,
            max(config.stall_timeout_s, _MIN_START_GRACE_S),
            on_video=self._on_video,
            on_refine=lambda earlier: timeline.refine_first_frame(self.part, earlier),
            ffmpeg_bin=config.ffmpeg_bin,
            ready=self._handover.done if self._handover is not None else None,
            since=self._since,
        )
        had_video = await watch.run(stop)
        if watch.end is WatchEnd.STALLED:
            timeline.set_error("camera stalled: no video" if had_video else "camera sent no video")
        if had_video and watch.video_end is not None:
            timeline.gap_start = watch.video_end
        return had_video

    async def _feed_pictures(self, stop: asyncio.Event) -> bool:
        timeline = self._timeline
        if timeline.gap_start is None and timeline.serving is None:
            timeline.gap_start = time.time()  # a camera down at the start is a gap too (as for RTSP)
        feed = PictureFeed(
            self.proc,
            timeline.row.spec,
            self._http,
            self._config.picture_interval_s,
            on_data=self._on_video,
            on_gap=timeline.add_gap,
            on_error=timeline.set_error,
        )
        await feed.run(stop)
        if feed.frames and not stop.is_set():
            timeline.gap_start = time.time()
        return feed.frames > 0
