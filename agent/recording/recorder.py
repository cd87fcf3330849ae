"""One record's life on the agent: the restart loop around its attempts (one ffmpeg run, one part
each), the phase it is in, and at the end the finalising into one file with its MD5.

As MediaMTX's `recorder`: an attempt ends → it is closed → after a paced pause a new one starts. The
phases are in `states.Phase`; every change goes through `_transition`, which logs it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import httpx

from agent.cameras.rtsp_probe import describe
from agent.errors import RtspProbeError
from agent.files.layout import RecordPaths
from agent.metrics_registry import FINALISE_SECONDS
from agent.recording.attempt import Attempt, RecorderConfig
from agent.recording.journal import Journal, RecordRow
from agent.recording.orphans import Handover
from agent.recording.states import PartOutcome, Phase
from agent.recording.timeline import Timeline
from agent.restart import restart_policy
from shared.enums import GapReason, RecordStatus
from shared.redact import redact_text
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_PROBE_S = 0.5  # how often a camera that is down is asked whether it is back
_PROBE_TIMEOUT_S = 2.0  # a DESCRIBE is ~30 ms; a loaded camera or agent may take far longer
_SPACE_S = 0.5  # how often the disk's free space is looked at while recording or paused
_FOLLOW_S = 0.5  # how often the record's file is hashed (and later parts appended) while recording


class _NoVideo(Exception):
    """An ffmpeg run ended without video: the camera is down. Retried with back-off."""


class Recording:
    """One record: call `start()` (or `finalise()` for a record found `stopping`), then
    `request_stop()` + `wait_done()`, or `suspend()` at agent shutdown."""

    def __init__(
        self,
        row: RecordRow,
        paths: RecordPaths,
        config: RecorderConfig,
        journal: Journal,
        http: httpx.AsyncClient,
    ) -> None:
        self.timeline = Timeline(row, paths, journal, config.picture_interval_s)
        self.phase = Phase.DONE if not row.status.active else Phase.IDLE
        self.attempts = 0
        self._config = config
        self._http = http
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._attempt: Attempt | None = None
        self._follower: asyncio.Task[None] | None = None
        self._handover: Handover | None = None  # ffmpegs of a dead agent, stopped once ours is open
        # This camera needs ffmpeg's full probing (a fast open lacked its codec parameters once): kept
        # for the record's life, so that every restart after an outage does not fail first.
        self._full_probe = False
        # Set once the first ffmpeg has opened the camera, or its first attempt has ended (the error
        # says why), or the record stops: what a start waits for before it answers.
        self.opened = asyncio.Event()

    # -- what the manager reads --------------------------------------------------------------------

    @property
    def row(self) -> RecordRow:
        return self.timeline.row

    @property
    def paths(self) -> RecordPaths:
        return self.timeline.paths

    @property
    def pid(self) -> int | None:
        proc = self._attempt.proc if self._attempt is not None else None
        return proc.pid if proc is not None and proc.running else None

    @property
    def current_path(self) -> Path:
        return self.timeline.current_path

    @property
    def growing(self) -> bool:
        t = self.timeline
        return self.phase is Phase.RECORDING and t.serving is not None and t.serving == t.part

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, *, resume: bool = False, handover: Handover | None = None) -> None:
        """Record in the background. `resume`: the agent was down since the last part was written.
        `handover`: a dead agent's ffmpeg still records it, and stops once ours has opened the camera."""
        if resume:
            self.timeline.resumed()
        self._handover = handover
        self._task = asyncio.create_task(self._lifecycle(), name=f"record-{self.row.record_id}")

    def finalise(self) -> None:
        """Join the parts of a record found `stopping` (the agent stopped while it finalised)."""
        self._stop.set()
        self._task = asyncio.create_task(self._finish(), name=f"finalise-{self.row.record_id}")

    def request_stop(self) -> None:
        self.timeline.mark_stopping()
        self._stop.set()
        self.opened.set()

    async def wait_done(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def suspend(self) -> None:
        """Agent shutdown: stop ffmpeg (its part stays playable) and leave the journal as it is."""
        if self._task is not None and not self._task.done():
            await cancel_and_wait(self._task)
            self._transition(Phase.SUSPENDED)
        if self._follower is not None:
            self._follower.cancel()

    def _transition(self, phase: Phase) -> None:
        """The one place the phase changes: every change is logged."""
        if phase is not self.phase:
            log.info("record %s: %s -> %s", self.row.record_id, self.phase.value, phase.value)
            self.phase = phase

    async def _lifecycle(self) -> None:
        retrying = restart_policy(
            _NoVideo, first_s=1.0, max_s=self._config.max_backoff_s, sleep=self._back_off
        )  # 1, 2, 4 … s
        self._follower = asyncio.create_task(self._follow(), name=f"follow-{self.row.record_id}")
        try:
            while not self._stop.is_set():
                async for attempt in retrying:  # a run that brought video starts the back-off anew
                    with attempt:
                        await self._run_attempt()
        except Exception as exc:  # a bug or a full disk: say so on the record rather than hang in it
            log.exception("record %s: recording failed", self.row.record_id)
            self.row.status = RecordStatus.STOPPING
            self.timeline.set_error(
                redact_text(f"recording failed: {type(exc).__name__}: {exc}", self.row.spec.secrets)
            )
        self._stop.set()
        self.opened.set()
        await self._follower  # its last pass ends before the file is sealed
        await self._finish()

    async def _follow(self) -> None:
        """Hash the record's file as it grows, so that the stop has only the last second left."""
        if self._handover is not None:
            await self._handover.done.wait()  # the orphan may still be writing the record's file
        while not self._stop.is_set():
            await self.timeline.follow_file()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_FOLLOW_S):
                    await self._stop.wait()

    async def _run_attempt(self) -> None:
        await self._wait_for_space()
        if self._stop.is_set():
            return
        halt = asyncio.Event()  # a stop, or the disk below its reserve: this ffmpeg ends
        watcher = asyncio.create_task(self._halt_on_stop_or_full_disk(halt))
        probe_fully = False
        try:
            self.attempts += 1  # read by the metrics: every attempt after the first is an ffmpeg restart
            self._attempt = Attempt(
                self.timeline,
                self._config,
                self._http,
                self._transition,
                on_open=self.opened.set,
                handover=self._handover,
                fast_open=not self._full_probe,
            )
            outcome = await self._attempt.run(halt)
            probe_fully = self._attempt.needs_full_probe
        finally:
            watcher.cancel()
            if not probe_fully:  # whatever the first attempt brought, a start waits no longer
                self.opened.set()
        if self._stop.is_set():
            return
        if probe_fully:
            # Not the camera's failure: the next ffmpeg starts at once, without the back-off, and a
            # start waits for it.
            log.warning(
                "record %s: the camera lacked codec parameters when opened fast; probing fully from now on",
                self.row.record_id,
            )
            self._full_probe = True
            return
        if halt.is_set():  # paused for space: what follows is a gap, until video comes again
            if self.timeline.gap_start is None and outcome is PartOutcome.VIDEO:
                self.timeline.gap_start = time.time()
            self.timeline.gap_reason = GapReason.DISK
            return
        if outcome is PartOutcome.NO_VIDEO:
            raise _NoVideo(self.row.error)

    async def _halt_on_stop_or_full_disk(self, halt: asyncio.Event) -> None:
        while not self._stop.is_set() and not self._config.space_low():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SPACE_S):
                    await self._stop.wait()
        halt.set()

    async def _wait_for_space(self) -> None:
        """While the disk is below its reserve no ffmpeg runs: the record stays `recording`, says
        why, and goes on by itself once space returns."""
        if not self._config.space_low():
            return
        self._transition(Phase.PAUSED)
        log.warning(
            "record %s: disk below its reserve of %s bytes, paused",
            self.row.record_id,
            self._config.reserve_bytes,
        )
        self.timeline.set_error(
            f"disk full: recording paused until {self._config.reserve_bytes // 2} bytes are free"
        )
        if self.timeline.gap_start is not None:
            self.timeline.gap_reason = GapReason.DISK
        self.opened.set()  # a start need not wait: the record says why it does not record
        while self._config.space_low() and not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SPACE_S):
                    await self._stop.wait()
        if not self._stop.is_set():
            log.info("record %s: space is back, recording again", self.row.record_id)

    async def _back_off(self, seconds: float) -> None:
        """Wait before the next ffmpeg; an RTSP camera that was down is asked (one DESCRIBE, a round
        trip) every `_PROBE_S` and ffmpeg restarts as soon as it answers: the gap is the outage.
        A camera that answers at once while ffmpeg fails is waited for blind, so a failing ffmpeg
        is never restarted in a tight loop."""
        self._transition(Phase.RETRY_WAIT)
        url = self.row.spec.rtsp_url
        deadline = time.monotonic() + seconds
        was_down = False
        while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if url:
                try:
                    await describe(url, timeout=min(_PROBE_TIMEOUT_S, max(left, _PROBE_S)))
                except RtspProbeError:
                    was_down = True
                else:
                    if was_down:
                        log.info("record %s: camera answers again, reconnecting", self.row.record_id)
                        return
                    url = None  # up already: not a camera outage, the blind back-off applies
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(_PROBE_S, max(0.0, deadline - time.monotonic()))):
                    await self._stop.wait()

    async def _finish(self) -> None:
        self._transition(Phase.FINALISING)
        with FINALISE_SECONDS.time():
            await self.timeline.finalise(self._config.ffmpeg_bin)
        self._transition(Phase.DONE)
