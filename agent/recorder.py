"""One record's life on the agent: ffmpeg runs writing parts, the watchdog, reconnects, the gaps,
and on stop the one final file with its MD5.

    IDLE ─start()─▶ CONNECTING ─video─▶ RECORDING ─exit/stall─▶ RETRY_WAIT ─back-off─▶ CONNECTING …
       any of these ─request_stop()─▶ FINALISING ─▶ DONE (completed / failed)
       any of these ─suspend() (agent shutdown)─▶ SUSPENDED (the journal still says `recording`)

Each ffmpeg run writes its own part, so nothing ffmpeg wrote is ever overwritten, and a run that
got no video leaves no part behind. Time that no part covers is a gap: from the end of the last
video (last growth of the part, or its mtime when ffmpeg exited by itself) to the start of the run
that brought video again.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from agent.ffmpeg.feeder import FedFfmpegProcess
from agent.ffmpeg.process import FfmpegProcess
from agent.ffmpeg.record_command import record_command
from agent.journal import Journal, RecordRow
from agent.part_watch import PartWatch, WatchEnd
from agent.picture_feed import PictureFeed, picture_argv
from agent.record_files import JoinError, RecordPaths, make_final_file
from shared.enums import RecordStatus
from shared.redact import redact_text

log = logging.getLogger(__name__)

_MIN_START_GRACE_S = 5.0  # ffmpeg's stream probing alone can take ~2 s before the first write
_STOP_GRACE_S = 5.0  # SIGTERM lets ffmpeg write its last fragment; then SIGKILL


class Phase(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"  # ffmpeg runs, no video in this part yet
    RECORDING = "recording"  # video is arriving
    RETRY_WAIT = "retry_wait"  # the camera failed: waiting (back-off) before the next ffmpeg
    FINALISING = "finalising"  # joining, verifying, hashing
    SUSPENDED = "suspended"  # agent shut down mid-recording; the next open() resumes it
    DONE = "done"  # completed or failed: see row.status


@dataclass(frozen=True)
class RecorderConfig:
    ffmpeg_bin: str
    stall_timeout_s: float = 10.0
    max_backoff_s: float = 5.0
    picture_interval_s: float = 1.0


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
        self.row = row
        self.paths = paths
        self.phase = Phase.DONE if not row.status.active else Phase.IDLE
        self._config = config
        self._journal = journal
        self._http = http
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._proc: FfmpegProcess | None = None
        self._part: Path | None = None  # the part the current ffmpeg writes
        self._serving: Path | None = Path(row.parts[-1]) if row.parts else None  # the last part with video
        self._gap_closed_by: str | None = None  # the part whose first video ended the last gap
        self._gap_start: float | None = None  # set while no video is being recorded after some was

    # -- what the manager reads --------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.running else None

    @property
    def current_path(self) -> Path:
        """The file to serve now: the part holding the latest video, or the final file."""
        current = self._serving or self._part  # before the first video: the part being connected
        if self.row.status.active and current is not None:
            return current
        return Path(self.row.final_path)

    @property
    def growing(self) -> bool:
        return self.phase is Phase.RECORDING and self._serving is not None and self._serving == self._part

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, *, resume: bool = False) -> None:
        """Record in the background. `resume`: the agent was down since the last part was written."""
        if resume:
            last = self._serving
            self._gap_start = (
                last.stat().st_mtime if last is not None and last.exists() else self.row.begin_unix
            )
        self._task = asyncio.create_task(self._lifecycle(), name=f"record-{self.row.record_id}")

    def finalise(self) -> None:
        """Join the parts of a record found `stopping` (the agent stopped while it finalised)."""
        self._stop.set()
        self._task = asyncio.create_task(self._finish(), name=f"finalise-{self.row.record_id}")

    def request_stop(self) -> None:
        if self.row.status is RecordStatus.RECORDING:
            self.row.status, self.row.end_unix = RecordStatus.STOPPING, time.time()
            self._save()
        self._stop.set()

    async def wait_done(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def suspend(self) -> None:
        """Agent shutdown: stop ffmpeg (its part stays playable) and leave the journal as it is."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self.phase = Phase.SUSPENDED

    async def _lifecycle(self) -> None:
        retrying = AsyncRetrying(
            wait=wait_exponential_jitter(max=self._config.max_backoff_s, jitter=0.5),  # 1, 2, 4 … s
            retry=retry_if_exception_type(_NoVideo),
            sleep=self._back_off,
            reraise=True,
        )
        try:
            while not self._stop.is_set():
                async for attempt in retrying:  # a run that brought video starts the back-off anew
                    with attempt:
                        await self._run_part()
        except Exception as exc:  # a bug or a full disk: say so on the record rather than hang in it
            log.exception("record %s: recording failed", self.row.record_id)
            self.row.status = RecordStatus.STOPPING
            self._set_error(
                redact_text(f"recording failed: {type(exc).__name__}: {exc}", self.row.spec.secrets)
            )
        await self._finish()

    async def _back_off(self, seconds: float) -> None:
        self.phase = Phase.RETRY_WAIT
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            pass

    # -- one ffmpeg run ----------------------------------------------------------------------------

    async def _run_part(self) -> None:
        if self._stop.is_set():
            return
        part = self.paths.part(len(self.row.parts) + 1)
        part.parent.mkdir(parents=True, exist_ok=True)
        self.row.parts.append(str(part))
        self._save()
        self._part, self.phase = part, Phase.CONNECTING
        started = time.time()
        self._proc = proc = self._make_process(part)
        try:
            await proc.start()
            if isinstance(proc, FedFfmpegProcess):
                had_video = await self._feed_pictures(proc)
            else:
                had_video = await self._watch(proc, part, started)
        except OSError as exc:
            self._set_error(f"cannot run ffmpeg: {exc.strerror}")
            had_video = False
        finally:
            await proc.stop(_STOP_GRACE_S)
        tail = proc.stderr_tail()
        if not had_video:
            part.unlink(missing_ok=True)  # an outage must not leave hundreds of empty parts
            self.row.parts.remove(str(part))
            if tail:
                self._set_error(tail[-1])
            self._save()
            if self._gap_start is None:
                self._gap_start = started
            if not self._stop.is_set():
                raise _NoVideo(self.row.error)
        elif not self._stop.is_set() and tail and self.row.error is None:
            self._set_error(tail[-1])  # why the camera dropped, until video comes again

    def _make_process(self, part: Path) -> FfmpegProcess:
        spec, name = self.row.spec, f"record-{self.row.record_id[:8]}"
        if spec.rtsp_url:
            command = record_command(self.row.ffmpeg_cmd, spec.rtsp_url, str(part), self._config.ffmpeg_bin)
            return FfmpegProcess(command.argv, name=name, secrets=spec.secrets, stdin_data=command.stdin)
        argv = picture_argv(self._config.ffmpeg_bin, part, self._config.picture_interval_s)
        return FedFfmpegProcess(argv, name=name, secrets=spec.secrets)

    async def _watch(self, proc: FfmpegProcess, part: Path, started: float) -> bool:
        watch = PartWatch(
            proc,
            part,
            started,
            self._config.stall_timeout_s,
            max(self._config.stall_timeout_s, _MIN_START_GRACE_S),
            on_video=lambda since: self._on_video(part, since),
            on_refine=lambda earlier: self._refine_first_frame(part, earlier),
            ffmpeg_bin=self._config.ffmpeg_bin,
        )
        had_video = await watch.run(self._stop)
        if watch.end == WatchEnd.STALLED:
            self._set_error("camera stalled: no video" if had_video else "camera sent no video")
        if had_video and watch.video_end is not None:
            self._gap_start = watch.video_end
        return had_video

    async def _feed_pictures(self, proc: FedFfmpegProcess) -> bool:
        assert self._part is not None
        part = self._part
        if self._gap_start is None and self._serving is None:
            self._gap_start = time.time()  # a camera down at the start is a gap too (as for RTSP)
        feed = PictureFeed(
            proc,
            self.row.spec,
            self._http,
            self._config.picture_interval_s,
            on_data=lambda at: self._on_video(part, at),
            on_gap=self._add_gap,
            on_error=self._set_error,
        )
        await feed.run(self._stop)
        if feed.frames and not self._stop.is_set():
            self._gap_start = time.time()
        return feed.frames > 0

    def _on_video(self, part: Path, since: float) -> None:
        if self.row.parts == [str(part)] and self._gap_start is None:
            # The record's very first video: it begins when its first frame does, not when ffmpeg was
            # asked to connect, so that begin..end minus the gaps is what the file holds.
            self.row.begin_unix = since
        self.phase, self._serving, self.row.error = Phase.RECORDING, part, None
        if self._gap_start is not None:
            before = len(self.row.gaps)
            self._add_gap(self._gap_start, since)
            self._gap_start = None
            self._gap_closed_by = str(part) if len(self.row.gaps) > before else None
        self._save()
        log.info("record %s: video arriving in %s", self.row.record_id, part.name)

    def _refine_first_frame(self, part: Path, earlier: float) -> None:
        """A closer estimate of when this part's video began: it moves the record's begin (first
        part) or the end of the gap that this part closed."""
        if self.row.parts == [str(part)] and not self.row.gaps:
            self.row.begin_unix = earlier
        elif self.row.gaps and self._gap_closed_by == str(part):
            start, _ = self.row.gaps[-1]
            self.row.gaps[-1] = (start, max(start, earlier))
        else:
            return
        self._save()

    def _add_gap(self, start: float, end: float) -> None:
        # A time-lapse cannot miss less than one frame interval (that is just a fetch's latency).
        shortest = 0.0 if self.row.spec.rtsp_url else self._config.picture_interval_s
        if end - start > shortest:
            self.row.gaps.append((start, end))
            self._save()
            log.info("record %s: gap of %.1f s", self.row.record_id, end - start)

    def _set_error(self, error: str | None) -> None:
        if error != self.row.error:  # a camera that keeps failing must not write the journal each time
            self.row.error = error
            self._save()

    # -- the final file ----------------------------------------------------------------------------

    async def _finish(self) -> None:
        self.phase = Phase.FINALISING
        try:
            final = await make_final_file(
                [Path(p) for p in self.row.parts], self.paths.final, self._config.ffmpeg_bin
            )
        except (JoinError, OSError) as exc:  # the parts stay on disk for a human to look at
            self._end(RecordStatus.FAILED, f"could not make the final file: {exc}")
            return
        if final is None:
            self._end(
                RecordStatus.FAILED, f"no video was received: {self.row.error or 'the camera never answered'}"
            )
            shutil.rmtree(self.paths.parts_dir, ignore_errors=True)
            return
        self.row.hash_md5, self.row.size_bytes, self.row.duration_s = final.md5, final.size, final.duration_s
        self._end(RecordStatus.COMPLETED, None)
        # Only now that the journal names a verified final file may the parts go.
        shutil.rmtree(self.paths.parts_dir, ignore_errors=True)
        self.row.parts = []
        self._save()

    def _end(self, status: RecordStatus, error: str | None) -> None:
        self.row.status, self.row.error, self.phase = status, error, Phase.DONE
        self.row.end_unix = self.row.end_unix or time.time()
        self._serving = None
        self._save()
        log.info("record %s: %s%s", self.row.record_id, status.value, f" ({error})" if error else "")

    def _save(self) -> None:
        self._journal.save(self.row)
