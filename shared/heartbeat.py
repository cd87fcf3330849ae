"""What an agent tells the control plane every few seconds, and what it is told back.

Agents push (HTTP, with the agent token) rather than the control plane polling them, so that any
replica can take a heartbeat and no replica has to keep a list of agents to poll."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.enums import PictureAuth, SourceModel

HEARTBEAT_PATH = "/internal/v1/agent/heartbeat"


class SourceProbe(BaseModel):
    """The last probe of one assigned source."""

    source_id: int
    online: bool
    detail: str = ""  # redacted error when offline
    probed_unix: float


class HeartbeatIn(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
    address: str = Field(min_length=3, max_length=256, description="host:port of the agent's gRPC server")
    version: str = ""
    capacity: int = Field(0, ge=0)
    active_records: int = Field(0, ge=0)
    disk_free_bytes: int = Field(0, ge=0)
    disk_total_bytes: int = Field(0, ge=0)
    probes: list[SourceProbe] = Field(default_factory=list)


class AssignedSource(BaseModel):
    """A source the agent must watch, with what it needs to reach the camera (credentials included:
    this travels only between the control plane and its authenticated agents)."""

    id: int
    model: SourceModel
    uri_rtsp: str | None = None
    picture_uri: str | None = None
    picture_auth: PictureAuth | None = None
    picture_user: str | None = None
    picture_password: str | None = None
    ffmpeg_cmd: str | None = None


class HeartbeatOut(BaseModel):
    interval_s: float
    sources: list[AssignedSource]
