"""Talking to one camera: what the agent knows of it (`CameraSpec`), a still picture over HTTP, one
frame grabbed from its RTSP stream, and a probe of whether it answers.

Every failure leaves this module as a `CameraError` that says what happened ("connection refused",
"401 unauthorized", "timed out after 5.0 s") in words already free of credentials, so callers can
log it and return it as is.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from agent.ffmpeg.commands import snapshot_command
from agent.ffmpeg.jpeg import is_jpeg
from agent.ffmpeg.process import FfmpegProcess
from agent.rtsp_probe import RtspProbeError, describe
from shared.enums import PictureAuth
from shared.redact import redact_text, redact_url

log = logging.getLogger(__name__)

MAX_PICTURE_BYTES = 20 * 1024 * 1024  # a still image larger than this is a misconfigured URL
_STOP_GRACE_S = 1.0  # a snapshot ffmpeg has nothing to finish: do not wait long for it
# _TIMEOUTS: these functions take a `timeout` rather than leave it to the caller's asyncio.timeout(),
# because it is the camera's deadline: it goes into ffmpeg's socket time-out and the error detail.


class CameraFailure(enum.StrEnum):
    """Why a camera did not give a picture: lets callers choose a status code or a retry."""

    UNREACHABLE = "unreachable"  # refused, no route, unknown host, reset
    UNAUTHORIZED = "unauthorized"  # 401 / 403: wrong or missing credentials
    NOT_FOUND = "not_found"  # the server answers but has no such stream or image
    TIMEOUT = "timeout"
    NO_FRAME = "no_frame"  # connected, but nothing decodable came
    BAD_RESPONSE = "bad_response"  # an HTTP error status, or a body that is not a JPEG
    FFMPEG = "ffmpeg"  # ffmpeg itself could not be run
    INVALID = "invalid"  # the spec cannot be used as it is (e.g. an RTSP URL that is not rtsp://)


class CameraError(Exception):
    """A camera did not give a picture; `detail` is safe to log and to return to API clients."""

    def __init__(self, source_id: int, detail: str, reason: CameraFailure) -> None:
        super().__init__(f"source {source_id}: {detail}")
        self.source_id = source_id
        self.detail = detail
        self.reason = reason


@dataclass(frozen=True)
class CameraSpec:
    """How to reach one camera. A source with a picture URL is snapshotted over HTTP."""

    source_id: int
    rtsp_url: str | None = None
    picture_url: str | None = None
    picture_auth: str | None = None  # PictureAuth value ("basic" / "digest") or None
    picture_user: str | None = None
    picture_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.rtsp_url and not self.picture_url:
            raise ValueError(f"source {self.source_id} has neither an RTSP nor a picture URL")
        if self.picture_auth not in (None, PictureAuth.BASIC, PictureAuth.DIGEST):
            raise ValueError(f"unknown picture auth {self.picture_auth!r}")

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every password of this camera, to scrub from text that may echo it."""
        found = [self.picture_password]
        for url in (self.rtsp_url, self.picture_url):
            if url:
                found.append(urlsplit(url).password)
        return tuple(s for s in found if s)

    def __repr__(self) -> str:
        # The URLs may carry a password in their userinfo; a spec must be safe to log.
        rtsp = redact_url(self.rtsp_url) if self.rtsp_url else None
        picture = redact_url(self.picture_url) if self.picture_url else None
        return (
            f"CameraSpec(source_id={self.source_id}, rtsp_url={rtsp!r}, picture_url={picture!r}, "
            f"picture_auth={self.picture_auth!r}, picture_user={self.picture_user!r})"
        )


def picture_auth(spec: CameraSpec) -> httpx.Auth | None:
    """The httpx auth for the picture URL; reuse one per poller, so digest skips a challenge."""
    if spec.picture_user is None:
        return None  # credentials in the URL's userinfo, if any, are still sent by httpx
    password = spec.picture_password or ""
    if spec.picture_auth == PictureAuth.DIGEST:
        return httpx.DigestAuth(spec.picture_user, password)
    return httpx.BasicAuth(spec.picture_user, password)


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


# What ffmpeg's stderr says, most specific first, and how we put it.
_FFMPEG_FAILURES = [
    (re.compile(r"401 Unauthorized"), "401 unauthorized", CameraFailure.UNAUTHORIZED),
    (re.compile(r"403 Forbidden"), "403 forbidden", CameraFailure.UNAUTHORIZED),
    (re.compile(r"404 Not Found"), "404 not found", CameraFailure.NOT_FOUND),
    (re.compile(r"Connection refused"), "connection refused", CameraFailure.UNREACHABLE),
    (re.compile(r"No route to host|Network is unreachable"), "no route to host", CameraFailure.UNREACHABLE),
    (
        re.compile(r"Name or service not known|name resolution|Failed to resolve", re.IGNORECASE),
        "host name not resolved",
        CameraFailure.UNREACHABLE,
    ),
    (re.compile(r"Connection reset"), "connection reset", CameraFailure.UNREACHABLE),
    (re.compile(r"timed out", re.IGNORECASE), "connection timed out", CameraFailure.TIMEOUT),
]


def describe_ffmpeg_failure(tail: list[str], returncode: int | None) -> tuple[str, CameraFailure]:
    """Turn ffmpeg's (already redacted) last stderr lines into a detail and a reason."""
    last = tail[-1].removeprefix("pipe:0: ") if tail else ""
    text = "\n".join(tail)
    for pattern, summary, reason in _FFMPEG_FAILURES:
        if pattern.search(text):
            return (f"{summary} ({last})" if last else summary), reason
    if returncode:
        return f"no frame decoded: ffmpeg exited with {returncode}" + (f" ({last})" if last else ""), (
            CameraFailure.NO_FRAME
        )
    return "no frame decoded" + (f" ({last})" if last else ""), CameraFailure.NO_FRAME


def invalid_url_error(spec: CameraSpec, exc: ValueError) -> CameraError:
    return CameraError(spec.source_id, f"unusable RTSP URL: {exc}", CameraFailure.INVALID)


def ffmpeg_start_error(spec: CameraSpec, exc: OSError) -> CameraError:
    return CameraError(spec.source_id, f"cannot run ffmpeg: {exc.strerror}", CameraFailure.FFMPEG)


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


async def probe(
    spec: CameraSpec,
    client: httpx.AsyncClient,
    timeout: float,  # noqa: ASYNC109 - see _TIMEOUTS
    ffmpeg_bin: str,
) -> tuple[bool, str]:
    """Whether the camera answers now, and a detail (free of credentials) either way.

    The RTSP stream is probed when there is one, since that is what recording needs, with one
    DESCRIBE (no ffmpeg: probing is periodic and per camera, so it must be cheap).
    """
    started = time.monotonic()
    try:
        if spec.rtsp_url:
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
