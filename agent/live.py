"""Live frames of sources: one upstream reader per source, however many viewers (fan-out).

A reader runs while a source has viewers, plus `linger_s` after the last one leaves, so that a
snapshot right after a live view (or a viewer who reconnects) is answered from the latest frame at
once. An RTSP source is read by one ffmpeg that decodes the stream and writes `fps` JPEGs a second;
a picture-only source is polled over HTTP `fps` times a second. A reader whose upstream fails
restarts it with exponential back-off and jitter, and keeps serving the same viewers; a viewer who
has waited `frame_timeout` seconds without a frame gets a `CameraError` that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from agent.camera import (
    CameraError,
    CameraFailure,
    CameraSpec,
    describe_ffmpeg_failure,
    fetch_picture,
    ffmpeg_start_error,
    invalid_url_error,
    picture_auth,
)
from agent.ffmpeg.commands import live_command
from agent.ffmpeg.jpeg import JpegSplitter
from agent.ffmpeg.process import FfmpegProcess

log = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024
_STOP_GRACE_S = 2.0  # a live ffmpeg writes nothing worth waiting for


@dataclass(frozen=True)
class Frame:
    jpeg: bytes
    seq: int  # 1, 2, ... per reader: a viewer asks for a frame newer than the last it had
    captured: float  # time.time() when the frame arrived


@dataclass(frozen=True)
class _Settings:
    client: httpx.AsyncClient
    ffmpeg_bin: str
    fps: float
    width: int | None
    frame_timeout: float


class _Reader:
    """The upstream of one source: keeps the latest frame and wakes the viewers waiting for it."""

    def __init__(self, spec: CameraSpec, settings: _Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.viewers = 0
        self.retired = False  # no longer the source's reader: stops when its viewers have left
        self.closed = False
        self.latest: Frame | None = None
        self.error: CameraError | None = None  # the last upstream failure, cleared by a frame
        self.process: FfmpegProcess | None = None  # the current ffmpeg of an RTSP reader
        self.linger: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()  # replaced on every change, so a waiter holds the current one
        self._seq = 0
        self._task = asyncio.create_task(self._run(), name=f"live-{spec.source_id}")

    def no_frame_error(self, waited: float) -> CameraError:
        """What a viewer gets after waiting `waited` s in vain: with the upstream's error, if any."""
        detail = f"no new frame within {waited:.1f} s"
        if self.error is None:
            return CameraError(self.spec.source_id, detail, CameraFailure.TIMEOUT)
        return CameraError(self.spec.source_id, f"{detail}: {self.error.detail}", self.error.reason)

    async def close(self) -> None:
        """Stop the upstream; returns once no ffmpeg of this reader is left running."""
        self.closed = True
        self._task.cancel()
        await asyncio.wait({self._task})
        if self.process is not None:
            # Normally stopped by the task already; this waits if the task's own stop was cut short.
            await self.process.stop(_STOP_GRACE_S)
        self._notify()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def _publish(self, jpeg: bytes) -> None:
        self._seq += 1
        self.latest = Frame(jpeg, self._seq, time.time())
        self.error = None
        self._notify()

    def _fail(self, error: CameraError) -> None:
        self.error = error
        self._notify()

    async def _run(self) -> None:
        while True:
            # A fresh back-off after every upstream run that delivered frames; a run that delivered
            # none raises, and the next attempt waits 0.5, 1, 2, 4, 5, 5 ... s (plus jitter).
            retrying = AsyncRetrying(
                wait=wait_exponential_jitter(multiplier=0.5, max=5.0, jitter=0.5),
                retry=retry_if_exception_type(Exception),
                before_sleep=self._log_retry,
            )
            async for attempt in retrying:
                with attempt:
                    try:
                        if self.spec.rtsp_url:
                            await self._stream_rtsp()
                        else:
                            await self._poll_picture()
                    except CameraError as exc:
                        self._fail(exc)  # viewers waiting in vain learn why
                        raise

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        why = exc.detail if isinstance(exc, CameraError) else repr(exc)
        delay = state.next_action.sleep if state.next_action else 0.0
        log.info("live %s: upstream failed (%s); retrying in %.1f s", self.spec.source_id, why, delay)

    async def _stream_rtsp(self) -> None:
        assert self.spec.rtsp_url
        settings = self.settings
        try:
            command = live_command(
                self.spec.rtsp_url,
                settings.fps,
                settings.ffmpeg_bin,
                settings.width,
                io_timeout_s=settings.frame_timeout,
            )
        except ValueError as exc:
            raise invalid_url_error(self.spec, exc) from None
        proc = FfmpegProcess(
            command.argv,
            name=f"live-{self.spec.source_id}",
            stdout_pipe=True,
            secrets=self.spec.secrets,
            stdin_data=command.stdin,
        )
        self.process = proc
        frames, stalled = 0, False
        try:
            try:
                await proc.start()
            except OSError as exc:
                raise ffmpeg_start_error(self.spec, exc) from None
            splitter = JpegSplitter()
            while True:
                # A camera that stalls may keep its session (and RTCP) alive, so ffmpeg would wait.
                async with asyncio.timeout(settings.frame_timeout):
                    chunk = await proc.stdout.read(_READ_SIZE)
                if not chunk:
                    break
                for jpeg in splitter.feed(chunk):
                    self._publish(jpeg)
                    frames += 1
        except TimeoutError:
            stalled = True
        finally:
            await proc.stop(_STOP_GRACE_S)
        if stalled:
            detail, reason = f"no data for {settings.frame_timeout:.1f} s", CameraFailure.TIMEOUT
        elif proc.returncode == 0:
            detail, reason = "the stream ended", CameraFailure.NO_FRAME
        else:
            detail, reason = describe_ffmpeg_failure(proc.stderr_tail(), proc.returncode)
        self._end_run(CameraError(self.spec.source_id, detail, reason), frames)

    async def _poll_picture(self) -> None:
        settings = self.settings
        auth = picture_auth(self.spec)  # one per run: digest auth then reuses its challenge
        frames = 0
        try:
            while True:
                started = time.monotonic()
                jpeg = await fetch_picture(self.spec, settings.client, settings.frame_timeout, auth=auth)
                self._publish(jpeg)
                frames += 1
                await asyncio.sleep(max(0.0, 1 / settings.fps - (time.monotonic() - started)))
        except CameraError as exc:
            self._end_run(exc, frames)

    def _end_run(self, error: CameraError, frames: int) -> None:
        if not frames:
            raise error  # back off before the next attempt
        self._fail(error)
        log.info(
            "live %s: upstream ended after %s frames (%s); restarting",
            self.spec.source_id,
            frames,
            error.detail,
        )


class Subscription:
    """One viewer's handle on a source's reader."""

    def __init__(self, reader: _Reader) -> None:
        self._reader = reader

    def latest(self) -> Frame | None:
        return self._reader.latest

    @property
    def upstream_process(self) -> FfmpegProcess | None:
        """The reader's current ffmpeg (RTSP sources), for diagnostics and tests."""
        return self._reader.process

    async def next_frame(self, after_seq: int, timeout: float) -> Frame:  # noqa: ASYNC109 - in its error
        """The latest frame if newer than `after_seq` (0 for any), else the next one to come.

        Raises `CameraError` when none comes within `timeout` or the hub's `frame_timeout`,
        whichever is shorter; its detail then says why if the reader knows (e.g. "connection
        refused"). Every call waits afresh, so a viewer may keep calling until the camera is back.
        """
        reader = self._reader
        waited = min(timeout, reader.settings.frame_timeout)
        deadline = time.monotonic() + waited
        while True:
            if reader.closed:
                raise RuntimeError(f"live view of source {reader.spec.source_id} is closed")
            frame = reader.latest
            if frame is not None and frame.seq > after_seq:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise reader.no_frame_error(waited)
            changed = reader.changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)


class LiveHub:
    """The agent's live readers, one per watched source; use `subscribe()`, close with `aclose()`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        ffmpeg_bin: str,
        fps: float = 5.0,
        linger_s: float = 5.0,
        frame_timeout: float = 10.0,
        width: int | None = None,
    ) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self._settings = _Settings(client, ffmpeg_bin, fps, width, frame_timeout)
        self._linger_s = linger_s
        self._readers: dict[int, _Reader] = {}  # the current reader of each source
        self._all: set[_Reader] = set()  # also lingering and retired ones, until they have stopped
        self._closed = False

    @property
    def reader_count(self) -> int:
        return len(self._all)

    def viewer_count(self, source_id: int) -> int:
        return sum(r.viewers for r in self._all if r.spec.source_id == source_id)

    def latest(self, source_id: int, max_age: float) -> Frame | None:
        """The source's latest live frame if a reader runs and the frame is at most `max_age` s old."""
        reader = self._readers.get(source_id)
        frame = reader.latest if reader is not None else None
        if frame is None or time.time() - frame.captured > max_age:
            return None
        return frame

    @contextlib.asynccontextmanager
    async def subscribe(self, spec: CameraSpec) -> AsyncIterator[Subscription]:
        reader = self._acquire(spec)
        try:
            yield Subscription(reader)
        finally:
            self._release(reader)

    async def aclose(self) -> None:
        """Stop every reader; returns once none of their ffmpeg processes is left."""
        self._closed = True
        readers = list(self._all)
        self._readers.clear()
        for reader in readers:
            if reader.linger is not None:
                reader.linger.cancel()
        await asyncio.gather(*(reader.close() for reader in readers))
        self._all.difference_update(readers)

    def _acquire(self, spec: CameraSpec) -> _Reader:
        if self._closed:
            raise RuntimeError("the live hub is closed")
        reader = self._readers.get(spec.source_id)
        if reader is not None and reader.spec != spec:
            # The source was changed (URL, password): its old reader keeps serving its viewers and
            # stops when they leave; new viewers get a reader with the new settings.
            self._unmap(reader)
            reader.retired = True
            reader = None
        if reader is None:
            reader = _Reader(spec, self._settings)
            self._readers[spec.source_id] = reader
            self._all.add(reader)
        if reader.linger is not None:
            reader.linger.cancel()  # only ever cancelled while it sleeps: a stopping reader is unmapped
            reader.linger = None
        reader.viewers += 1
        return reader

    def _release(self, reader: _Reader) -> None:
        reader.viewers -= 1
        if reader.viewers > 0 or reader.closed or self._closed:
            return
        delay = 0.0 if reader.retired else self._linger_s
        reader.linger = asyncio.create_task(
            self._stop_after(reader, delay), name=f"linger-{reader.spec.source_id}"
        )

    async def _stop_after(self, reader: _Reader, delay: float) -> None:
        await asyncio.sleep(delay)
        self._unmap(reader)
        await reader.close()
        self._all.discard(reader)
        log.info("live %s: reader stopped, no viewers for %.1f s", reader.spec.source_id, delay)

    def _unmap(self, reader: _Reader) -> None:
        if self._readers.get(reader.spec.source_id) is reader:
            del self._readers[reader.spec.source_id]
