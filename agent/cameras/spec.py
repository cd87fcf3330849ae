"""What the agent knows of one camera (`CameraSpec`) and the words for how a camera fails.

Every failure leaves the cameras package as a `CameraError` (agent.errors) that says what happened ("connection
refused", "401 unauthorized", "timed out after 5.0 s") in words already free of credentials, so
callers can log it and return it as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from agent.errors import CameraError, CameraFailure
from agent.ffmpeg.commands import camera_error
from shared.enums import PictureAuth
from shared.heartbeat import AssignedSource
from shared.redact import redact_url


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


def spec_from_assigned(source: AssignedSource) -> CameraSpec:
    """The agent's spec of a source the control plane sent (a heartbeat's answer, or a gRPC call's
    SourceSpec through shared.rpc_convert): the one conversion from the wire shape."""
    return CameraSpec(
        source_id=source.id,
        rtsp_url=source.uri_rtsp,
        picture_url=source.picture_uri,
        picture_auth=source.picture_auth.value if source.picture_auth else None,
        picture_user=source.picture_user,
        picture_password=source.picture_password,
    )


def picture_auth(spec: CameraSpec) -> httpx.Auth | None:
    """The httpx auth for the picture URL; reuse one per poller, so digest skips a challenge."""
    if spec.picture_user is None:
        return None  # credentials in the URL's userinfo, if any, are still sent by httpx
    password = spec.picture_password or ""
    if spec.picture_auth == PictureAuth.DIGEST:
        return httpx.DigestAuth(spec.picture_user, password)
    return httpx.BasicAuth(spec.picture_user, password)


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
    last = camera_error(tail[-1]) if tail else ""
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
