"""One picture of a camera now: its HTTP still image, or one frame grabbed from its RTSP stream by a
short-lived ffmpeg."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from agent.cameras.dial import check_dial
from agent.cameras.spec import (
    CameraSpec,
    describe_ffmpeg_failure,
    ffmpeg_start_error,
    invalid_url_error,
    picture_auth,
)
from agent.errors import CameraError, CameraFailure
from agent.ffmpeg.commands import snapshot_command
from agent.ffmpeg.jpeg import is_jpeg
from agent.ffmpeg.process import FfmpegProcess
from shared.redact import redact_text

log = logging.getLogger(__name__)

MAX_PICTURE_BYTES = 20 * 1024 * 1024  # a still image larger than this is a misconfigured URL
_STOP_GRACE_S = 1.0  # a snapshot ffmpeg has nothing to finish: do not wait long for it
# _TIMEOUTS: these functions take a `timeout` rather than leave it to the caller's asyncio.timeout(),
# because it is the camera's deadline: it goes into ffmpeg's socket time-out and the error detail.


async def fetch_picture(
    spec: CameraSpec,
    client: httpx.AsyncClient,
    timeout: float,  # noqa: ASYNC109 - see _TIMEOUTS
    *,
    auth: httpx.Auth | None = None,
) -> bytes:
    """The camera's HTTP still image, checked to be one whole JPEG."""
    if not spec.picture_url:
        raise ValueError(f"source {spec.source_id} has no picture URL")
    await check_dial(spec)

    def fail(detail: str, reason: CameraFailure) -> CameraError:
        return CameraError(spec.source_id, redact_text(detail, spec.secrets), reason)

    try:
        # httpx's timeout is per phase; this one bounds the whole exchange (a slow trickle too).
        async with asyncio.timeout(timeout):
            async with client.stream(
                "GET", spec.picture_url, auth=auth or picture_auth(spec), timeout=timeout
            ) as response:
                if response.status_code != httpx.codes.OK:
                    raise fail(*_http_status(response))
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_PICTURE_BYTES:
                        raise fail(f"image larger than {MAX_PICTURE_BYTES} bytes", CameraFailure.BAD_RESPONSE)
                content_type = response.headers.get("content-type", "none")
    except (TimeoutError, httpx.TimeoutException):
        raise fail(f"timed out after {timeout:.1f} s", CameraFailure.TIMEOUT) from None
    except httpx.ConnectError as exc:
        summary = "connection refused" if "refused" in str(exc).lower() else f"cannot connect: {exc}"
        raise fail(summary, CameraFailure.UNREACHABLE) from None
    except httpx.HTTPError as exc:
        raise fail(f"HTTP error: {type(exc).__name__}: {exc}", CameraFailure.BAD_RESPONSE) from None
    if not is_jpeg(bytes(body)):
        detail = f"not a JPEG image (content-type {content_type}, {len(body)} bytes)"
        raise fail(detail, CameraFailure.BAD_RESPONSE)
    return bytes(body)


def _http_status(response: httpx.Response) -> tuple[str, CameraFailure]:
    code = response.status_code
    if code in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
        return f"{code} {'unauthorized' if code == 401 else 'forbidden'}", CameraFailure.UNAUTHORIZED
    if code == httpx.codes.NOT_FOUND:
        return "404 not found", CameraFailure.NOT_FOUND
    return f"HTTP {code} {response.reason_phrase}", CameraFailure.BAD_RESPONSE


async def grab_rtsp_frame(
    spec: CameraSpec,
    timeout: float,  # noqa: ASYNC109 - see _TIMEOUTS
    ffmpeg_bin: str,
    *,
    fast_probe: bool = True,
) -> bytes:
    """One JPEG decoded from the camera's RTSP stream by a short-lived ffmpeg."""
    if not spec.rtsp_url:
        raise ValueError(f"source {spec.source_id} has no RTSP URL")
    await check_dial(spec)
    try:
        command = snapshot_command(spec.rtsp_url, ffmpeg_bin, fast_probe=fast_probe, io_timeout_s=timeout)
    except ValueError as exc:
        raise invalid_url_error(spec, exc) from None
    proc = FfmpegProcess(
        command.argv,
        name=f"snapshot-{spec.source_id}",
        stdout_pipe=True,
        secrets=spec.secrets,
        stdin_data=command.stdin,
        log_level=logging.DEBUG,  # probes run often; a failure reaches the caller as CameraError
    )
    try:
        await proc.start()
    except OSError as exc:
        raise ffmpeg_start_error(spec, exc) from None
    data, timed_out = b"", False
    try:
        async with asyncio.timeout(timeout):
            data = await proc.stdout.read()  # -frames:v 1: one image, then EOF
            await proc.wait()
    except TimeoutError:
        timed_out = True
    finally:
        returncode = await proc.stop(grace=_STOP_GRACE_S)
    tail = proc.stderr_tail()
    if timed_out:
        last = f" ({tail[-1]})" if tail else ""
        raise CameraError(spec.source_id, f"timed out after {timeout:.1f} s{last}", CameraFailure.TIMEOUT)
    if returncode != 0 or not is_jpeg(data):
        detail, reason = describe_ffmpeg_failure(tail, returncode)
        raise CameraError(spec.source_id, detail, reason)
    return data


async def grab_rtsp_frame_with_fallback(
    spec: CameraSpec,
    timeout: float,  # noqa: ASYNC109 - see _TIMEOUTS
    ffmpeg_bin: str,
) -> bytes:
    """`grab_rtsp_frame` with fast probing, then once with ffmpeg's default probing if no frame came.

    Fast probing saves about a second per cold grab; a stream whose parameters cannot be read from
    its first packets needs the default. Errors that another probe cannot fix are not retried.
    """
    deadline = time.monotonic() + timeout
    try:
        return await grab_rtsp_frame(spec, timeout, ffmpeg_bin, fast_probe=True)
    except CameraError as exc:
        remaining = deadline - time.monotonic()
        if exc.reason is not CameraFailure.NO_FRAME or remaining <= 0:
            raise
        log.info("source %s: %s with fast probing; retrying with default probing", spec.source_id, exc.detail)
        return await grab_rtsp_frame(spec, remaining, ffmpeg_bin, fast_probe=False)


async def snapshot(
    spec: CameraSpec,
    client: httpx.AsyncClient,
    timeout: float,  # noqa: ASYNC109 - see _TIMEOUTS
    ffmpeg_bin: str,
) -> bytes:
    """One JPEG of the camera now: its HTTP still image when it has one, else an RTSP grab."""
    if spec.picture_url:
        return await fetch_picture(spec, client, timeout)
    return await grab_rtsp_frame_with_fallback(spec, timeout, ffmpeg_bin)
