"""One camera session per RTSP source: the one reader of the camera, however many need it.

While anything needs a camera (live viewers, the JPEG decoder of MJPEG viewers and snapshots), one
ffmpeg copies its video (`-c copy`, nothing decoded) into fragmented MP4 on a pipe; the agent splits
the fragments (agent.files.fmp4_stream) and fans them out (shared.media_fanout), keeping the init
segment and the fragments since the latest keyframe so that a new reader starts at once. A camera
that fails is asked again with the agent's restart policy while the session is held; its readers
stay attached and learn why (`error`). The session ends `linger_s` after its last holder leaves, so
a viewer who reconnects (or a snapshot just after) finds it still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from tenacity import RetryCallState

from agent.cameras.dial import check_dial
from agent.cameras.spec import (
    CameraSpec,
    describe_ffmpeg_failure,
    ffmpeg_start_error,
    invalid_url_error,
)
from agent.errors import CameraError, CameraFailure, StreamError
from agent.ffmpeg.live_commands import audio_refused, session_command
from agent.ffmpeg.process import FfmpegProcess
from agent.files.fmp4_stream import Splitter
from agent.restart import restart_policy
from shared.media_fanout import Fanout, Init

log = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024
_STOP_GRACE_S = 2.0  # the session's ffmpeg writes to a pipe only: nothing to finish


@dataclass(frozen=True)
class SessionSettings:
    ffmpeg_bin: str
    io_timeout_s: float  # silence from the camera after which the session's ffmpeg is restarted
    linger_s: float = 5.0


class CameraSession:
    """The one reader of one RTSP camera; its stream is `fanout`."""

    def __init__(
        self,
        spec: CameraSpec,
        settings: SessionSettings,
        *,
        audio: bool = True,
        on_no_audio: Callable[[CameraSpec], None] | None = None,
    ) -> None:
        if not spec.rtsp_url:
            raise ValueError(f"source {spec.source_id} has no RTSP URL")
        self.spec = spec
        self.settings = settings
        self.fanout = Fanout()
        self.holders = 0
        self.retired = False  # no longer the source's session: ends when its holders leave
        self.closed = False
        self.error: CameraError | None = None  # the last failure, cleared by the next fragment
        self.process: FfmpegProcess | None = None
        self.runs = 0  # ffmpeg runs so far (camera sessions opened)
        self.audio = audio  # pass the camera's audio through, until it turns out MP4 cannot hold it
        self._on_no_audio = on_no_audio
        self.linger: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()  # set (and replaced) on every fragment and every failure
        self._task = asyncio.create_task(self._run(), name=f"camera-session-{spec.source_id}")

    @property
    def init(self) -> Init | None:
        return self.fanout.init

    async def close(self) -> None:
        if not self.closed:  # cancelled once: a second cancel would cut its clean-up short
            self.closed = True
            self._task.cancel()
        await asyncio.wait({self._task})
        if self.process is not None:
            await self.process.stop(_STOP_GRACE_S)
        self.fanout.end("the camera session was closed")
        self._notify()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def _run(self) -> None:
        while True:
            retrying = restart_policy(Exception, first_s=0.5, max_s=5.0, before_sleep=self._log_retry)
            async for attempt in retrying:
                with attempt:
                    try:
                        await self._read_camera()
                    except CameraError as exc:
                        self.error = exc
                        self._notify()
                        raise

    def _log_retry(self, state: RetryCallState) -> None:
        why, delay = retry_reason(state)
        log.info("camera session %s: failed (%s); retrying in %.1f s", self.spec.source_id, why, delay)

    async def _read_camera(self) -> None:
        assert self.spec.rtsp_url
        await check_dial(self.spec)
        settings = self.settings
        try:
            command = session_command(
                self.spec.rtsp_url, settings.ffmpeg_bin, io_timeout_s=settings.io_timeout_s, audio=self.audio
            )
        except ValueError as exc:
            raise invalid_url_error(self.spec, exc) from None
        proc = FfmpegProcess(
            command.argv,
            name=f"session-{self.spec.source_id}",
            stdout_pipe=True,
            secrets=self.spec.secrets,
            stdin_data=command.stdin,
        )
        self.process = proc
        fragments, stalled, bad = 0, False, ""
        try:
            try:
                await proc.start()
            except OSError as exc:
                raise ffmpeg_start_error(self.spec, exc) from None
            self.runs += 1
            splitter = Splitter()
            while True:
                # A camera that stalls may keep its session (and RTCP) alive, so ffmpeg would wait.
                async with asyncio.timeout(settings.io_timeout_s):
                    chunk = await proc.stdout.read(_READ_SIZE)
                if not chunk:
                    break
                for item in splitter.feed(chunk):
                    if isinstance(item, Init):
                        self.fanout.set_init(item)
                    else:
                        self.fanout.push(item)
                        fragments += 1
                        self.error = None
                        self._notify()
        except TimeoutError:
            stalled = True
        except StreamError as exc:
            bad = str(exc)
        finally:
            await proc.stop(_STOP_GRACE_S)
        if stalled:
            detail, reason = f"no data for {settings.io_timeout_s:.1f} s", CameraFailure.TIMEOUT
        elif bad:
            detail, reason = f"cannot be played live: {bad}", CameraFailure.NO_FRAME
        elif proc.returncode == 0:
            detail, reason = "the stream ended", CameraFailure.NO_FRAME
        else:
            detail, reason = describe_ffmpeg_failure(proc.stderr_tail(), proc.returncode)
        error = CameraError(self.spec.source_id, detail, reason)
        if not fragments and self.audio and audio_refused(proc.stderr_tail()):
            # The camera's audio is one a browser could not play from MP4 anyway (G.711): without it.
            self.audio = False
            if self._on_no_audio is not None:
                self._on_no_audio(self.spec)
            log.info("camera session %s: its audio cannot go into MP4; video only", self.spec.source_id)
            return
        if not fragments:
            raise error  # back off before the next attempt
        self.error = error
        self._notify()
        log.info(
            "camera session %s: ended after %s fragments (%s); restarting",
            self.spec.source_id,
            fragments,
            detail,
        )


class SessionHub:
    """The agent's camera sessions, one per RTSP source in use; `hold()` one, close with `aclose()`."""

    def __init__(self, settings: SessionSettings) -> None:
        self.settings = settings
        self._current: dict[int, CameraSession] = {}
        self._all: set[CameraSession] = set()
        self._no_audio: set[CameraSpec] = set()  # cameras whose audio MP4 cannot hold: not tried again
        self._closed = False

    @property
    def session_count(self) -> int:
        return len(self._all)

    def running(self, source_id: int) -> CameraSession | None:
        """The source's current session, if one runs (held or lingering)."""
        return self._current.get(source_id)

    @contextlib.asynccontextmanager
    async def hold(self, spec: CameraSpec, *, linger: bool = True) -> AsyncIterator[CameraSession]:
        """The source's session while the block runs. `linger=False`: the holder lingers itself (a
        live JPEG reader), so the session need not stay after it on its account."""
        session = self._acquire(spec)
        try:
            yield session
        finally:
            self._release(session, linger)

    async def aclose(self) -> None:
        self._closed = True
        sessions = list(self._all)
        self._current.clear()
        for session in sessions:
            if session.linger is not None:
                session.linger.cancel()
        await asyncio.gather(*(session.close() for session in sessions))
        self._all.difference_update(sessions)

    def _acquire(self, spec: CameraSpec) -> CameraSession:
        if self._closed:
            raise RuntimeError("the camera sessions are closed")
        session = self._current.get(spec.source_id)
        if session is not None and session.spec != spec:
            # The source was changed (URL, password): the old session serves its holders until they
            # leave; new holders get a session with the new settings.
            del self._current[spec.source_id]
            session.retired = True
            session = None
        if session is None:
            session = CameraSession(
                spec, self.settings, audio=spec not in self._no_audio, on_no_audio=self._no_audio.add
            )
            self._current[spec.source_id] = session
            self._all.add(session)
        if session.linger is not None:
            session.linger.cancel()
            session.linger = None
        session.holders += 1
        return session

    def _release(self, session: CameraSession, linger: bool) -> None:
        session.holders -= 1
        if session.holders > 0 or session.closed or self._closed:
            return
        delay = self.settings.linger_s if linger and not session.retired else 0.0
        session.linger = asyncio.create_task(
            self._stop_after(session, delay), name=f"session-linger-{session.spec.source_id}"
        )

    async def _stop_after(self, session: CameraSession, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._current.get(session.spec.source_id) is session:
            del self._current[session.spec.source_id]
        await session.close()
        self._all.discard(session)
        log.info("camera session %s: ended, not needed for %.1f s", session.spec.source_id, delay)


def retry_reason(state: RetryCallState) -> tuple[str, float]:
    """Why an attempt on a camera failed (the camera's own words where it gave some), and the pause
    before the next one: what the camera session and the live readers log."""
    exc = state.outcome.exception() if state.outcome else None
    why = exc.detail if isinstance(exc, CameraError) else repr(exc)
    return why, state.next_action.sleep if state.next_action else 0.0
