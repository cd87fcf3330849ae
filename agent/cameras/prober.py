"""Keeps the availability of the agent's assigned cameras current, for the next heartbeat: one
cheap probe per camera (an RTSP DESCRIBE or an HTTP still image), skipped while video arrives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

import httpx

from agent.cameras.dial import check_dial
from agent.cameras.rtsp_probe import describe
from agent.cameras.snapshot import fetch_picture
from agent.cameras.spec import CameraSpec
from agent.errors import CameraError, RtspProbeError
from shared.heartbeat import SourceProbe
from shared.redact import redact_text

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    """Where the prober learns that video of a source arrives right now (the live hub): the cameras
    layer sits below live video, so it names only this one question, not the hub."""

    def latest(self, source_id: int, max_age: float) -> object | None: ...


class Prober:
    def __init__(
        self,
        client: httpx.AsyncClient,
        frames: FrameSource,
        *,
        interval_s: float,
        timeout_s: float,
        ffmpeg_bin: str,
        busy: Callable[[int], bool] = lambda _source_id: False,
        concurrency: int = 8,
    ) -> None:
        self._client = client
        self._frames = frames
        self._interval = interval_s
        self._timeout = timeout_s
        self._ffmpeg = ffmpeg_bin
        self._busy = busy
        self._limit = asyncio.Semaphore(concurrency)
        self._specs: dict[int, CameraSpec] = {}
        self._results: dict[int, SourceProbe] = {}
        self._changed = asyncio.Event()

    def assign(self, specs: list[CameraSpec]) -> None:
        """The sources the control plane gave this agent; a new or changed one is probed at once."""
        new = {s.source_id: s for s in specs}
        if new != self._specs:
            self._changed.set()
        self._specs = new
        for gone in set(self._results) - set(new):
            del self._results[gone]

    def assigned(self) -> dict[int, CameraSpec]:
        """The sources it holds, by id (a copy)."""
        return dict(self._specs)

    def results(self) -> list[SourceProbe]:
        return list(self._results.values())

    async def run(self) -> None:
        while True:
            specs = list(self._specs.values())
            if specs:
                await asyncio.gather(*(self._probe_one(spec) for spec in specs))
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._changed.wait()

    async def _probe_one(self, spec: CameraSpec) -> None:
        # A camera that a live reader or a recording is receiving right now is online: opening one
        # more stream to it would only load the camera and this host.
        if self._frames.latest(spec.source_id, max_age=self._interval) is not None or self._busy(
            spec.source_id
        ):
            online, detail = True, ""
        else:
            async with self._limit:
                try:
                    online, detail = await probe(spec, self._client, self._timeout, self._ffmpeg)
                except Exception as exc:  # a probe must never stop the loop
                    log.warning("probe of source %s failed: %s", spec.source_id, type(exc).__name__)
                    online, detail = False, f"probe error: {type(exc).__name__}"
        previous = self._results.get(spec.source_id)
        if previous is None or previous.online != online:
            log.info("source %s is %s %s", spec.source_id, "online" if online else "offline", detail)
        if spec.source_id in self._specs:
            self._results[spec.source_id] = SourceProbe(
                source_id=spec.source_id, online=online, detail=detail, probed_unix=time.time()
            )


async def probe(
    spec: CameraSpec,
    client: httpx.AsyncClient,
    timeout: float,  # noqa: ASYNC109 - the camera's deadline
    ffmpeg_bin: str,
) -> tuple[bool, str]:
    """Whether the camera answers now, and a detail (free of credentials) either way.

    The RTSP stream is probed when there is one, since that is what recording needs, with one
    DESCRIBE (no ffmpeg: probing is periodic and per camera, so it must be cheap).
    """
    started = time.monotonic()
    try:
        if spec.rtsp_url:
            await check_dial(spec)
            try:
                return True, await describe(spec.rtsp_url, timeout)
            except RtspProbeError as exc:
                return False, redact_text(str(exc), spec.secrets)
        else:
            jpeg = await fetch_picture(spec, client, timeout)
            what = "HTTP picture"
    except CameraError as exc:
        return False, exc.detail
    return True, f"{what} of {len(jpeg)} bytes in {time.monotonic() - started:.2f} s"
