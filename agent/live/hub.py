"""Live frames of sources: one upstream reader per source, however many viewers (fan-out).

A reader runs while a source has viewers, plus `linger_s` after the last one leaves, so that a
snapshot right after a live view (or a viewer who reconnects) is answered from the latest frame at
once. An RTSP source is decoded by one ffmpeg fed from the source's camera session (agent.live.session,
the one reader of the camera) that writes `fps` JPEGs a second;
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

import httpx

from agent.cameras.spec import CameraSpec
from agent.ffmpeg.process import FfmpegProcess
from agent.live.reader import Frame, Reader, ReaderSettings
from agent.live.session import SessionSettings
from agent.live.session_hub import SessionHub

log = logging.getLogger(__name__)


class Subscription:
    """One viewer's handle on a source's reader."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    def latest(self) -> Frame | None:
        return self._reader.latest

    @property
    def upstream_process(self) -> FfmpegProcess | None:
        """The reader's current ffmpeg (RTSP sources: the decoder fed by the camera session), for
        diagnostics and tests."""
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
                async with asyncio.timeout(remaining):
                    await changed.wait()


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
        # The one session per RTSP camera that every live reader, stream and snapshot shares.
        self.sessions = SessionHub(SessionSettings(ffmpeg_bin, frame_timeout, linger_s))
        self._settings = ReaderSettings(client, ffmpeg_bin, fps, width, frame_timeout, self.sessions)
        self._linger_s = linger_s
        self._readers: dict[int, Reader] = {}  # the current reader of each source
        self._all: set[Reader] = set()  # also lingering and retired ones, until they have stopped
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
        await self.sessions.aclose()

    def _acquire(self, spec: CameraSpec) -> Reader:
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
            reader = Reader(spec, self._settings)
            self._readers[spec.source_id] = reader
            self._all.add(reader)
        if reader.linger is not None:
            reader.linger.cancel()  # only ever cancelled while it sleeps: a stopping reader is unmapped
            reader.linger = None
        reader.viewers += 1
        return reader

    def _release(self, reader: Reader) -> None:
        reader.viewers -= 1
        if reader.viewers > 0 or reader.closed or self._closed:
            return
        delay = 0.0 if reader.retired else self._linger_s
        reader.linger = asyncio.create_task(
            self._stop_after(reader, delay), name=f"linger-{reader.spec.source_id}"
        )

    async def _stop_after(self, reader: Reader, delay: float) -> None:
        await asyncio.sleep(delay)
        self._unmap(reader)
        await reader.close()
        self._all.discard(reader)
        log.info("live %s: reader stopped, no viewers for %.1f s", reader.spec.source_id, delay)

    def _unmap(self, reader: Reader) -> None:
        if self._readers.get(reader.spec.source_id) is reader:
            del self._readers[reader.spec.source_id]
