"""The live copy a recording's ffmpeg writes on its stdout (agent.ffmpeg.tee), into the source's
camera session (agent.live.session `Feed`), so that the camera's live viewers, MJPEG and snapshots
need no session of their own while it is recorded.

Read all the time, also when no one watches (what is read is then dropped by the fan-out): a pipe
left unread fills, and ffmpeg's fifo then drops the live copy's packets. The recording never waits
for it either way."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from agent.cameras.spec import CameraSpec
from agent.errors import CameraError, CameraFailure, StreamError
from agent.ffmpeg.process import FfmpegProcess
from agent.files.fmp4_stream import Splitter
from agent.live.session import Feed
from agent.live.session_hub import SessionHub
from shared.media_fanout import Init

log = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024
# The camera session's own ffmpeg is stopped before the recording opens the camera (a camera that
# allows one session): SIGTERM and a pipe's end, a few ms; past this the recording starts anyway.
_HANDOVER_S = 3.0


async def open_feed(sessions: SessionHub | None, spec: CameraSpec) -> Feed | None:
    """The source's camera session, to be written by the recording's ffmpeg, once the session's own
    ffmpeg has let the camera go."""
    feed = sessions.open_feed(spec) if sessions is not None else None
    if feed is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_HANDOVER_S):
                await feed.taken.wait()
    return feed


async def pump(proc: FfmpegProcess, feed: Feed | None) -> None:
    """Until ffmpeg's stdout ends: its init segment and fragments into `feed` (None: dropped)."""
    splitter: Splitter | None = Splitter() if feed is not None else None
    while chunk := await proc.stdout.read(_READ_SIZE):
        if splitter is None or feed is None:
            continue  # drained, so that ffmpeg never waits on the pipe
        try:
            items = splitter.feed(chunk)
        except StreamError as exc:
            log.warning("%s: its live copy cannot be read (%s); recording goes on", proc.name, exc)
            feed.interrupt(CameraError(feed.session.spec.source_id, str(exc), CameraFailure.NO_FRAME))
            splitter = None
            continue
        for item in items:
            if isinstance(item, Init):
                feed.set_init(item)
            else:
                feed.push(item)
