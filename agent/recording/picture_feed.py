"""Recording a `PictureSource`: poll the camera's HTTP still image and feed the JPEGs to ffmpeg,
which encodes them into a time-lapse H.264 part (fragmented MP4, as RTSP parts are).

Frames are written on a fixed schedule (`t0 + n × interval`), not after each fetch: a fetch that
fails or is slow is covered by repeating the last good frame, so the video's duration follows the
wall clock. A run of failed fetches is still reported (as a gap: the picture froze there).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from agent.cameras.snapshot import fetch_picture
from agent.cameras.spec import CameraSpec, picture_auth
from agent.errors import CameraError, StdinClosed
from agent.ffmpeg.process import FfmpegProcess
from agent.live.pacing import Pacer

log = logging.getLogger(__name__)

_EOF_GRACE_S = 10.0  # after end of input, ffmpeg encodes what it holds and writes the file's end


@dataclass
class PictureFeed:
    """Feeds one ffmpeg until `stop` is set or ffmpeg exits; reports data, freezes and errors."""

    proc: FfmpegProcess  # started with stdin_pipe=True
    spec: CameraSpec
    http: httpx.AsyncClient
    interval_s: float
    on_data: Callable[[float], None]  # wall time of the first frame written
    on_gap: Callable[[float, float], None]  # a span in which no fetch succeeded
    on_error: Callable[[str | None], None]  # the last fetch error (None once a fetch succeeds)
    frames: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        auth = picture_auth(self.spec)  # one per feed, so digest auth skips the challenge
        timeout = min(max(2 * self.interval_s, 3.0), 10.0)
        last_jpeg: bytes | None = None
        pacer = Pacer(self.interval_s)  # starts at the first picture written
        failing_since: float | None = None
        try:
            while not stop.is_set() and self.proc.running:
                try:
                    jpeg = await fetch_picture(self.spec, self.http, timeout, auth=auth)
                except CameraError as exc:
                    self.on_error(exc.detail)
                    if failing_since is None:
                        failing_since = time.time()
                else:
                    if failing_since is not None and last_jpeg is not None:
                        self.on_gap(failing_since, time.time())  # while the error is its cause
                    self.on_error(None)
                    failing_since, last_jpeg = None, jpeg
                if last_jpeg is None:  # nothing to show yet: the video starts at the first picture
                    await _wait(stop, self.interval_s)
                    continue
                if self.frames == 0:
                    self.on_data(time.time())
                due = pacer.due()
                while self.frames < due:  # catch up after a slow fetch: video time = wall time
                    await self.proc.write(last_jpeg)
                    self.frames += 1
                await _wait(stop, pacer.until_slot(self.frames))
        except StdinClosed:
            log.warning("%s: ffmpeg stopped reading pictures", self.proc.name)
        if failing_since is not None and last_jpeg is not None:
            self.on_gap(failing_since, time.time())
        self.proc.close_stdin()
        if stop.is_set():
            # End of input, not SIGTERM: ffmpeg encodes the frames it holds and closes the file.
            done, _ = await asyncio.wait({asyncio.ensure_future(self.proc.wait())}, timeout=_EOF_GRACE_S)
            if not done:
                log.warning(
                    "%s: ffmpeg did not finish within %s s of end of input", self.proc.name, _EOF_GRACE_S
                )


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, returning early when `stop` is set."""
    if seconds <= 0:
        return
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        pass
