"""Pictures decoded from a camera session's copy of the stream, never from the camera itself.

`stream_jpegs`: one ffmpeg fed the session's fragments on stdin writes `fps` JPEGs a second (the
MJPEG viewers' and the snapshots' source), run only while a JPEG reader needs it.
`latest_still`: one JPEG of the newest frame the session holds (its last keyframe and what follows),
for a snapshot of a source that is being read: no new camera session, no wait for a keyframe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from agent.errors import CameraError, CameraFailure, StdinClosed
from agent.ffmpeg.jpeg import JpegSplitter, is_jpeg
from agent.ffmpeg.live_commands import jpeg_decoder_argv, still_argv
from agent.ffmpeg.process import FfmpegProcess
from agent.live.session import CameraSession
from shared.media_fanout import Init, StreamEnded
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024
_STOP_GRACE_S = 1.0
_POLL_S = 0.25  # how often a waiting decoder looks at the session's error


async def stream_jpegs(
    session: CameraSession,
    ffmpeg_bin: str,
    fps: float,
    width: int | None,
    timeout_s: float,
    publish: Callable[[bytes], None],
    *,
    on_start: Callable[[FfmpegProcess], None] | None = None,
) -> None:
    """Decode the session's stream into JPEGs until it fails; raises CameraError saying why, after
    publishing any frames (the caller restarts it, with a back-off when none came)."""
    source_id = session.spec.source_id
    proc = FfmpegProcess(
        jpeg_decoder_argv(ffmpeg_bin, fps, width),
        name=f"decode-{source_id}",
        stdout_pipe=True,
        stdin_pipe=True,
    )
    frames = 0
    why: CameraError | None = None
    loop = asyncio.get_running_loop()
    with session.fanout.reading() as reader:
        try:
            await proc.start()
        except OSError as exc:
            raise CameraError(source_id, f"cannot run ffmpeg: {exc.strerror}", CameraFailure.FFMPEG) from None
        if on_start is not None:
            on_start(proc)

        async def feed() -> CameraError:
            inits, idle_since = 0, loop.time()
            try:
                while True:
                    try:
                        item = await reader.next(_POLL_S)
                    except TimeoutError:
                        # The session's failure ends the decoder at once: its viewers learn why.
                        if session.error is not None:
                            return session.error
                        if loop.time() - idle_since >= timeout_s:
                            return CameraError(
                                source_id, f"no data for {timeout_s:.1f} s", CameraFailure.TIMEOUT
                            )
                        continue
                    idle_since = loop.time()
                    if isinstance(item, Init):
                        inits += 1
                        if inits > 1:  # the stream restarted (or this decoder fell behind): start anew
                            return CameraError(source_id, "the stream restarted", CameraFailure.NO_FRAME)
                    await proc.write(item.data)
            except StreamEnded as exc:
                return CameraError(source_id, exc.reason, CameraFailure.NO_FRAME)
            except StdinClosed:
                return CameraError(source_id, "the decoder stopped", CameraFailure.FFMPEG)

        feeder = asyncio.create_task(feed(), name=f"decode-feed-{source_id}")
        try:
            splitter = JpegSplitter()
            while not feeder.done():
                read = asyncio.ensure_future(proc.stdout.read(_READ_SIZE))
                await asyncio.wait({read, feeder}, return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    await cancel_and_wait(read)
                    break
                chunk = read.result()
                if not chunk:
                    break
                for jpeg in splitter.feed(chunk):
                    publish(jpeg)
                    frames += 1
        finally:
            try:
                if not feeder.done():
                    feeder.cancel()
                # asyncio.wait, not `await feeder`: a cancellation of this task must go on, not be
                # taken for the feeder's own.
                await asyncio.wait({feeder})
                if not feeder.cancelled() and feeder.exception() is None:
                    why = feeder.result()
            finally:
                await proc.stop(_STOP_GRACE_S)
    if why is None:
        tail = proc.stderr_tail()
        why = CameraError(
            source_id, f"the decoder ended ({tail[-1] if tail else proc.returncode})", CameraFailure.NO_FRAME
        )
    raise why


async def latest_still(session: CameraSession, ffmpeg_bin: str, timeout_s: float) -> bytes | None:
    """A JPEG of the newest frame the session holds (waiting for its first keyframe if it has just
    opened the camera: a new session would not be faster); None when none comes in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while session.fanout.init is None or not session.fanout.gop:
        remaining = deadline - loop.time()
        if remaining <= 0 or session.closed or (session.error is not None and session.fanout.init is None):
            return None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(remaining, _POLL_S)):
                await session.changed.wait()
    init, gop = session.fanout.init, list(session.fanout.gop)
    timeout_s = max(0.5, deadline - loop.time())
    samples = sum(fragment.samples for fragment in gop)
    proc = FfmpegProcess(
        still_argv(ffmpeg_bin, samples - 1),
        name=f"still-{session.spec.source_id}",
        stdout_pipe=True,
        stdin_pipe=True,
        log_level=logging.DEBUG,
    )
    await proc.start()
    try:
        async with asyncio.timeout(timeout_s):
            read = asyncio.ensure_future(proc.stdout.read())
            with contextlib.suppress(StdinClosed):  # it may have its frame and exit before the end
                for data in (init.data, *(fragment.data for fragment in gop)):
                    await proc.write(data)
            proc.close_stdin()
            data = await read
    except TimeoutError:
        return None
    finally:
        await proc.stop(_STOP_GRACE_S)
    return data if is_jpeg(data) else None
