"""The agent's errors, all of them: raised by the lower layers (ffmpeg, files, cameras, recording),
caught or turned into gRPC status codes above them (the one table of `agent.rpc.status`). They live
in this one leaf module so that any layer may raise or catch one without importing another layer.

Each error's `str()` (a CameraError's `detail`) is free of credentials: safe to log and to answer."""

from __future__ import annotations

import enum

# Records


class FileAccessError(Exception):
    """A location that is not the record's own, or a path outside the storage root."""


class UnknownRecordError(KeyError):
    """No record with that id on this agent (`args[0]` is the id)."""


class FileGoneError(Exception):
    """The record's file was there when looked up and is gone now (deleted, evicted)."""

    def __init__(self, record_id: str) -> None:
        super().__init__(f"the file of record {record_id} is gone")


class CapacityError(Exception):
    """The agent already runs as many recordings as it may."""


class RecordBusyError(Exception):
    """The record is still recording (or finalising): its file cannot be deleted."""


# Files


class NoSpaceError(OSError):
    """The disk had no room for the next fragment: the file is as it was before it."""


class Fmp4Error(Exception):
    """The bytes are not the fragmented MP4 the files package handles; `str()` is safe to report."""


class StreamError(Exception):
    """A camera session's stream is not the fragmented MP4 expected (or not playable live); `str()`
    is safe to report."""


class JoinError(Exception):
    """The parts could not be joined into a verified final file; `str()` is safe to report."""


# Copies of other agents' records (sync)


class CopyMismatchError(Exception):
    """The received bytes are not what the header announced (size or MD5); nothing was kept."""


class CopyResumeError(Exception):
    """A byte-offset resume was asked for; a received stream always restarts a copy from byte 0."""


class CopyBusyError(Exception):
    """Another pull of the same copy is running; try again once it has ended."""


class MissingAtSourceError(UnknownRecordError):
    """A pull's source agent has no file of that record (`args[0]` is the id)."""


class PullRefusedError(Exception):
    """The source agent refused the URL (unsigned, expired, tampered or not that record's)."""


class SourceError(Exception):
    """The source agent could not be reached or broke off; what was written is kept for a resume."""


# ffmpeg and cameras


class StdinClosed(Exception):
    """The child no longer reads its stdin (it exited, or `close_stdin()` was called)."""


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
    """A camera did not give a picture; `detail` is safe to log and to return to API clients.

    Every failure leaves the cameras package as one of these, in words already free of credentials
    ("connection refused", "401 unauthorized", "timed out after 5.0 s")."""

    def __init__(self, source_id: int, detail: str, reason: CameraFailure) -> None:
        super().__init__(f"source {source_id}: {detail}")
        self.source_id = source_id
        self.detail = detail
        self.reason = reason


class RtspProbeError(Exception):
    """The camera did not answer as an RTSP server with video (detail free of credentials)."""
