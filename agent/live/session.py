"""One camera session per RTSP source: the one reader of the camera, however many need it.

While anything needs a camera (live viewers, the JPEG decoder of MJPEG viewers and snapshots), one
ffmpeg copies its video (`-c copy`, nothing decoded) into fragmented MP4 on a pipe; the agent splits
the fragments (agent.files.fmp4_stream) and fans them out (shared.media_fanout), keeping the init
segment and the fragments since the latest keyframe so that a new reader starts at once. A camera
that fails is asked again with the agent's restart policy while the session is held; its readers
stay attached and learn why (`error`). The session ends `linger_s` after its last holder leaves, so
a viewer who reconnects (or a snapshot just after) finds it still running.

While the camera is recorded, the recorder's own ffmpeg writes the session's stream (a `Feed`,
agent.ffmpeg.tee): the session's ffmpeg stops, so the camera sees one session, and runs again when
the feed closes (the recording's ffmpeg ended). Readers stay attached through both changes and get a
new init segment. The camera is given up before the feed opens it (a camera that allows one session
must go to the recording).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
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
from shared.media_fanout import Fanout, Fragment, Init

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
        self.feeds: list[Feed] = []  # recordings of the camera; the first one writes the stream
        self._writer: Feed | None = None  # the feed whose stream this is (the session's ffmpeg stopped)
        self._feeds_changed = asyncio.Event()  # set (and replaced) when a feed comes or goes
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

    def fed_by(self, feed: Feed) -> bool:
        """Whether `feed` writes the stream now."""
        return self._writer is feed and not self.closed

    def attach(self, feed: Feed) -> None:
        self.feeds.append(feed)
        self._feeds_changed.set()

    def detach(self, feed: Feed) -> None:
        if feed in self.feeds:
            self.feeds.remove(feed)
            self._feeds_changed.set()

    async def _run(self) -> None:
        while True:
            self._feeds_changed = asyncio.Event()
            changed = self._feeds_changed
            if self.feeds:
                self._write_from(self.feeds[0])
                for feed in self.feeds:
                    feed.taken.set()
                await changed.wait()
                continue
            self._write_from(None)
            dial = asyncio.create_task(self._dial(), name=f"camera-dial-{self.spec.source_id}")
            waiter = asyncio.create_task(changed.wait())
            try:
                await asyncio.wait({dial, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                # A feed came: the camera goes to the recording before the recording opens it.
                dial.cancel()
                waiter.cancel()
                await asyncio.wait({dial, waiter})

    def _write_from(self, feed: Feed | None) -> None:
        """The stream comes from `feed` now (None: from the session's own ffmpeg): what the last
        writer sent is no longer live; readers get the new writer's init segment."""
        if feed is self._writer:
            return
        log.info(
            "camera session %s: %s",
            self.spec.source_id,
            "fed by a recording's ffmpeg" if feed is not None else "reading the camera itself",
        )
        self._writer = feed
        self.fanout.forget()
        if feed is not None:
            if feed.init is not None:
                self.fanout.set_init(feed.init)
            self.error = feed.error
            self._notify()

    async def _dial(self) -> None:
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
            self.fanout.forget()
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


class Feed:
    """A recording's live copy of its camera, written into the source's camera session: `set_init`,
    `push` while its ffmpeg runs, `interrupt` when it ends, `close` when the recording stops."""

    def __init__(self, session: CameraSession, release: Callable[[], None]) -> None:
        self.session = session
        self.init: Init | None = None
        self.error: CameraError | None = None
        self.taken = asyncio.Event()  # the session's own ffmpeg has let the camera go
        self._release = release
        self.closed = False

    def set_init(self, init: Init) -> None:
        self.init, self.error = init, None
        if self.session.fed_by(self):
            self.session.fanout.set_init(init)

    def push(self, fragment: Fragment) -> None:
        session = self.session
        if session.fed_by(self) and session.fanout.init is not None:
            session.fanout.push(fragment)
            session.error = None
            session._notify()

    def interrupt(self, error: CameraError) -> None:
        """The recording's ffmpeg ended (the camera dropped, a restart): readers learn why."""
        self.init, self.error = None, error
        session = self.session
        if session.fed_by(self):
            session.fanout.forget()
            session.error = error
            session._notify()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.session.detach(self)
            self._release()


def retry_reason(state: RetryCallState) -> tuple[str, float]:
    """Why an attempt on a camera failed (the camera's own words where it gave some), and the pause
    before the next one: what the camera session and the live readers log."""
    exc = state.outcome.exception() if state.outcome else None
    why = exc.detail if isinstance(exc, CameraError) else repr(exc)
    return why, state.next_action.sleep if state.next_action else 0.0
