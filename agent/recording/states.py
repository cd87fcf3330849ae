"""The states of one recording and the outcomes of its parts, as enums (logged and reported)."""

from __future__ import annotations

import enum


class Phase(enum.StrEnum):
    """Where one recording is.

    IDLE ─start()─▶ CONNECTING ─video─▶ RECORDING ─exit/stall─▶ RETRY_WAIT ─back-off─▶ CONNECTING …
       CONNECTING/RECORDING ─free space below the reserve─▶ PAUSED ─space back─▶ CONNECTING …
       any of these ─request_stop()─▶ FINALISING ─▶ DONE (completed / failed)
       any of these ─suspend() (agent shutdown)─▶ SUSPENDED (the journal still says `recording`)
    """

    IDLE = "idle"
    CONNECTING = "connecting"  # ffmpeg runs, no video in this part yet
    RECORDING = "recording"  # video is arriving
    RETRY_WAIT = "retry_wait"  # the camera failed: waiting (back-off) before the next ffmpeg
    PAUSED = "paused"  # the disk is below its reserve: no ffmpeg until space returns (a gap)
    FINALISING = "finalising"  # joining, verifying, hashing
    SUSPENDED = "suspended"  # agent shut down mid-recording; the next open() resumes it
    DONE = "done"  # completed or failed: see the record's status


class WatchEnd(enum.StrEnum):
    """Why the watchdog of one RTSP run stopped watching."""

    STOPPED = "stopped"  # stop was asked
    EXITED = "exited"  # ffmpeg exited by itself
    STALLED = "stalled"  # no growth for the stall time-out (or no video within the grace)


class PartOutcome(enum.StrEnum):
    """What one ffmpeg run (one part) brought."""

    VIDEO = "video"  # the part holds video: it is kept
    NO_VIDEO = "no_video"  # the camera is down: the part is removed and the run retried
