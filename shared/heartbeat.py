"""What an agent tells the control plane every few seconds, and what it is told back.

Agents push (HTTP, with the agent token) rather than the control plane polling them, so that any
replica can take a heartbeat and no replica has to keep a list of agents to poll.

The rule for the shapes that cross between the control plane and its agents: each is defined once,
here, and serves both wires. `AssignedSource` is a source an agent must reach (heartbeat answers, and
gRPC calls in `SourceSpec.assigned`); `RecordReport` is a record as its agent reports it (heartbeats,
and gRPC answers as `RecordState`). Their protobuf encodings are converted in shared.rpc_convert and
nowhere else; a stored Source becomes an AssignedSource in controlplane.agents.convert, an
AssignedSource the agent's CameraSpec in agent.cameras.spec. Field names are the JSON wire format:
an agent of the previous release reads them, so a field is added (with a default), never renamed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field

from shared.camera_networks import CameraNetworks
from shared.enums import GapReason, PictureAuth, RecordStatus, SourceModel

HEARTBEAT_PATH = "/internal/v1/agent/heartbeat"
AGENT_NAME = r"^[A-Za-z0-9._-]+$"  # what an agent's name (and a site) may be
MAX_DETAIL_CHARS = 500  # a probe's detail, a record's error: what the API shows of them


def _clipped_to(limit: int) -> BeforeValidator:
    # Free text from cameras and ffmpeg: a long one is cut, not refused (refusing would take the
    # whole heartbeat, and so the agent, offline), and never stored or listed at length.
    return BeforeValidator(lambda text: text[:limit] if isinstance(text, str) else text)


Detail = Annotated[str, _clipped_to(MAX_DETAIL_CHARS)]

# Why one gap happened. Shorter than a record's error: a record that lost its camera all week holds
# thousands of gaps, and the control plane stores and lists each one's cause.
MAX_GAP_DETAIL_CHARS = 200


def clip_gap_detail(text: str) -> str:
    return text[:MAX_GAP_DETAIL_CHARS]


GapDetail = Annotated[str, _clipped_to(MAX_GAP_DETAIL_CHARS)]


def detail_runs(details: Sequence[str]) -> list[tuple[int, str]]:
    """Each gap's cause, as runs `[index of the run's first gap, detail]`: a camera that drops every
    minute for a week has one cause for thousands of gaps, and one record's report must stay far
    below the heartbeat's body limit. An empty detail is none (a gap of the previous release)."""
    runs: list[tuple[int, str]] = []
    for index, detail in enumerate(details):
        if not runs or runs[-1][1] != detail:
            runs.append((index, detail))
    return runs if any(detail for _, detail in runs) else []


class SourceProbe(BaseModel):
    """The last probe of one assigned source."""

    source_id: int
    online: bool
    detail: Detail = ""  # redacted error when offline
    probed_unix: float


class RecordReport(BaseModel):
    """A record as the agent's journal has it: the truth about what was recorded."""

    record_id: str = Field(max_length=64)
    source_id: int
    status: RecordStatus
    begin_unix: float
    end_unix: float | None = None
    location: str = Field(max_length=1024)
    hash_md5: str | None = Field(None, max_length=64)
    size_bytes: int | None = None
    duration_s: float | None = None
    error: Detail | None = None
    gaps: list[tuple[float, float, GapReason] | tuple[float, float]] = Field(
        default_factory=list, max_length=10_000, description="[start_unix, end_unix, reason]"
    )
    # Not a fourth item of each gap: the previous control plane refuses a gap it cannot parse, and
    # with it the whole heartbeat (see docs/upgrade.md: agents work with it for one release).
    gap_details: list[tuple[int, GapDetail]] = Field(
        default_factory=list,
        max_length=10_000,
        description="why each gap happened, as runs [index of the first gap of the run, detail] (see "
        "`detail_runs`); empty from an agent of the previous release",
    )
    updated_unix: float

    def details(self) -> list[str]:
        """The cause of each gap, in the order of `gaps` ("" where none was given)."""
        out = [""] * len(self.gaps)
        runs = self.gap_details
        for n, (first, detail) in enumerate(runs):
            end = runs[n + 1][0] if n + 1 < len(runs) else len(out)
            for index in range(max(first, 0), min(end, len(out))):
                out[index] = detail
        return out


class HeartbeatIn(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=AGENT_NAME)
    address: str = Field(min_length=3, max_length=256, description="host:port of the agent's gRPC server")
    http_address: str | None = Field(
        None, max_length=256, description="host:port of the agent's HTTP port (signed file URLs point there)"
    )
    public_url: str | None = Field(
        None,
        max_length=512,
        description="base URL clients reach the HTTP port by (VIDEOREC_AGENT_PUBLIC_URL); downloads "
        "are redirected there",
    )
    version: str = Field("", max_length=64, description="the agent's software version")
    site: str = Field("default", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
    capacity: int = Field(0, ge=0)
    active_records: int = Field(0, ge=0)
    disk_free_bytes: int = Field(0, ge=0)
    disk_total_bytes: int = Field(0, ge=0)
    disk_reserve_bytes: int = Field(0, ge=0, description="free space the agent keeps; below it records pause")
    paused_records: int = Field(0, ge=0, description="records paused because the disk is below its reserve")
    probes: list[SourceProbe] = Field(default_factory=list)
    records: list[RecordReport] = Field(
        default_factory=list, description="records changed since the last acknowledged heartbeat"
    )
    assignment: str | None = Field(
        None,
        max_length=64,
        description="the `assignment` of the last answer whose sources the agent holds; when it is still "
        "current the answer carries no sources (nothing changed). None (an agent of the previous "
        "release, or one just started): the answer carries them all",
    )
    held: list[int] | None = Field(
        None,
        max_length=100_000,
        description="the ids of the sources the agent holds as of `assignment`. Sent, a changed assignment "
        "is answered as a delta (`changed`, `removed`); None (an agent of the previous release): as the "
        "whole list in `sources`",
    )


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
    sources: list[AssignedSource] | None = Field(
        description="every source the agent must watch; None: unchanged since the `assignment` it sent"
    )
    assignment: str | None = Field(None, description="what to send back to be told only of changes")
    changed: list[AssignedSource] | None = Field(
        None,
        description="to an agent that sent `held`: the sources added or changed since its `assignment` (the "
        "only ones with credentials); None: no delta (see `sources`)",
    )
    removed: list[int] = Field(
        default_factory=list, description="with `changed`: ids of held sources the agent must drop"
    )
    records_ack_unix: float = Field(0.0, description="the newest record change the control plane has applied")
    stop_records: list[str] = Field(
        default_factory=list,
        description="records the control plane wants stopped (a stop it could not deliver)",
    )
    protected_tags: list[str] | None = Field(
        default_factory=list,
        description="tags whose records retention must never delete; None: unchanged (with `sources`)",
    )
    camera_networks: CameraNetworks | None = Field(
        None, description="where cameras may be: the agent checks what a camera's name resolves to"
    )
