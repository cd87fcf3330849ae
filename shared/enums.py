"""Statuses and kinds that both the control plane and the agent speak of."""

from enum import StrEnum


class SourceModel(StrEnum):
    """What kind of camera input a source is (the REST `model` field)."""

    SOURCE = "Source"  # an RTSP stream
    PICTURE_SOURCE = "PictureSource"  # an HTTP still-image camera


class PictureAuth(StrEnum):
    BASIC = "basic"
    DIGEST = "digest"


class SourceStatus(StrEnum):
    UNKNOWN = "unknown"  # not probed yet
    ONLINE = "online"
    OFFLINE = "offline"


class AgentState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class RecordStatus(StrEnum):
    """Moves only forward: pending → recording → stopping → completed; the last four are ends."""

    PENDING = "pending"
    RECORDING = "recording"
    STOPPING = "stopping"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    DELETED = "deleted"

    @property
    def active(self) -> bool:
        return self in ACTIVE_RECORD_STATUSES


ACTIVE_RECORD_STATUSES = frozenset({RecordStatus.PENDING, RecordStatus.RECORDING, RecordStatus.STOPPING})


class GapReason(StrEnum):
    """Why a record holds no video for a while."""

    CAMERA = "camera"  # the camera was lost (or the agent was down, which it cannot tell apart)
    DISK = "disk"  # the agent's disk was below its reserve: recording paused for space
    FAILOVER = "failover"  # between a record and its continuation on another agent
