"""The upstream of one source's live view: one ffmpeg decoding its camera session's stream into JPEGs,
or an HTTP poll of its still image, restarted by the agent's restart policy while viewers are attached."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx
from tenacity import RetryCallState

from agent.cameras.snapshot import fetch_picture
from agent.cameras.spec import (
    CameraSpec,
    picture_auth,
)
from agent.errors import CameraError, CameraFailure
from agent.ffmpeg.process import FfmpegProcess
from agent.live.decode import stream_jpegs
from agent.live.pacing import Pacer
from agent.live.session import retry_reason
from agent.live.session_hub import SessionHub
from agent.restart import restart_policy

log = logging.getLogger(__name__)

_STOP_GRACE_S = 2.0  # a live ffmpeg writes nothing worth waiting for


@dataclass(frozen=True)
class Frame:
    jpeg: bytes
    seq: int  # 1, 2, ... per reader: a viewer asks for a frame newer than the last it had
    captured: float  # time.time() when the frame arrived


@dataclass(frozen=True)
class ReaderSettings:
    client: httpx.AsyncClient
    ffmpeg_bin: str
    fps: float
    width: int | None
    frame_timeout: float
    sessions: SessionHub


class Reader:
    """The upstream of one source: keeps the latest frame and wakes the viewers waiting for it."""

    def __init__(self, spec: CameraSpec, settings: ReaderSettings) -> None:
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
        if not self.closed:  # cancelled once: a second cancel would cut its clean-up short
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
            retrying = restart_policy(Exception, first_s=0.5, max_s=5.0, before_sleep=self._log_retry)
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
        why, delay = retry_reason(state)
        log.info("live %s: upstream failed (%s); retrying in %.1f s", self.spec.source_id, why, delay)

    async def _stream_rtsp(self) -> None:
        # Decoded from the camera session's copy of the stream: the camera is read once, however
        # many live readers, streams, snapshots (and their decoders) use it.
        settings = self.settings
        frames = 0

        def publish(jpeg: bytes) -> None:
            nonlocal frames
            frames += 1
            self._publish(jpeg)

        async with settings.sessions.hold(self.spec, linger=False) as session:
            try:
                await stream_jpegs(
                    session,
                    settings.ffmpeg_bin,
                    settings.fps,
                    settings.width,
                    settings.frame_timeout,
                    publish,
                    on_start=self._set_process,
                )
            except CameraError as exc:
                self._end_run(exc, frames)

    def _set_process(self, process: FfmpegProcess) -> None:
        self.process = process

    async def _poll_picture(self) -> None:
        settings = self.settings
        auth = picture_auth(self.spec)  # one per run: digest auth then reuses its challenge
        frames, pacer = 0, Pacer(1 / settings.fps)
        try:
            while True:
                jpeg = await fetch_picture(self.spec, settings.client, settings.frame_timeout, auth=auth)
                self._publish(jpeg)
                frames += 1
                await asyncio.sleep(max(0.0, pacer.next_delay()))
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
