"""Sources: camera inputs, as stored and as the API reads and writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import BigInteger
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.db import StrEnumColumn
from controlplane.models.common import MASK, UtcDatetimeOut, created_field, utc_field
from controlplane.models.source_secrets import keep_picture_password, mask_uri, unmask_uri
from controlplane.sealed import SealedString
from shared.enums import PictureAuth, SourceModel, SourceStatus
from shared.ffmpeg_cmd import FfmpegCmdError, validate_template

MAX_URI = 2048


def _check_uri(value: str, schemes: tuple[str, ...], what: str) -> str:
    value = value.strip()
    if len(value) > MAX_URI:
        raise ValueError(f"{what} is longer than {MAX_URI} characters")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{what} must not contain white space")
    parts = urlsplit(value)
    if parts.scheme.lower() not in schemes:
        raise ValueError(f"{what} must start with {' or '.join(s + '://' for s in schemes)}")
    if not parts.hostname:
        raise ValueError(f"{what} has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise ValueError(f"{what} has an invalid port") from exc
    return value


class HttpPictureIn(BaseModel):
    """The still-image URI of a camera, as written by a client."""

    model_config = ConfigDict(extra="forbid")

    uri: str = Field(max_length=MAX_URI, description="http:// or https:// URI of the camera's still image")
    auth: PictureAuth = Field(PictureAuth.BASIC, description="How user/password are sent")
    user: str | None = Field(None, max_length=256)
    password: str | None = Field(None, max_length=256, description="Write-only; read back as ********")

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        return _check_uri(value, ("http", "https"), "uri_http_picture.uri")


class HttpPictureOut(BaseModel):
    uri: str
    auth: PictureAuth
    user: str | None
    password: str | None = Field(description="******** when a password is set, null otherwise")


class SourceFields(BaseModel):
    """Fields a client may write; shared by create and update."""

    model_config = ConfigDict(extra="forbid")

    model: SourceModel | None = Field(
        None, description="Source (RTSP stream) or PictureSource (HTTP still image)"
    )
    description: str | None = Field(None, max_length=2000)
    uri_rtsp: str | None = Field(
        None, max_length=MAX_URI, description="rtsp:// or rtsps:// URI of the stream"
    )
    uri_http_picture: HttpPictureIn | None = None
    ffmpeg_cmd: str | None = Field(None, max_length=2000, description="Recording command template")
    agent: str | None = Field(None, max_length=128, description="Name of the agent that must record it")
    site: str | None = Field(
        None, max_length=128, pattern=r"^[A-Za-z0-9._-]+$", description="Record only on agents of this site"
    )
    failover: bool | None = Field(
        None, description="Continue its recordings on another agent of the site when its agent is down"
    )
    redundancy: int | None = Field(
        None,
        ge=1,
        le=2,
        description="Agents of its site that record it at once: 2 records it twice, so losing one agent "
        "loses no video",
    )

    @field_validator("uri_rtsp")
    @classmethod
    def _rtsp(cls, value: str | None) -> str | None:
        return None if value in (None, "") else _check_uri(value, ("rtsp", "rtsps"), "uri_rtsp")

    @field_validator("ffmpeg_cmd")
    @classmethod
    def _ffmpeg_cmd(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            validate_template(value)
        except FfmpegCmdError as exc:
            raise ValueError(str(exc)) from exc
        return value.strip()


class SourceCreate(SourceFields):
    """POST body: what a new source needs."""

    model: SourceModel = Field(SourceModel.SOURCE, description="Source or PictureSource")
    description: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _needs_its_uri(self) -> SourceCreate:
        if self.model is SourceModel.SOURCE and not self.uri_rtsp:
            raise ValueError("a Source needs uri_rtsp")
        if self.model is SourceModel.PICTURE_SOURCE and self.uri_http_picture is None:
            raise ValueError("a PictureSource needs uri_http_picture.uri")
        return self


class SourceUpdate(SourceFields):
    """PUT body: fields left out keep their value."""


class Source(SQLModel, table=True):
    """A camera input as stored; the password columns never leave the control plane except to agents."""

    id: int | None = SQLField(default=None, primary_key=True)
    created_utc: datetime = created_field()
    model: SourceModel = SQLField(sa_type=StrEnumColumn(SourceModel, 32))
    status: SourceStatus = SQLField(default=SourceStatus.UNKNOWN, sa_type=StrEnumColumn(SourceStatus))
    status_detail: str | None = None
    status_utc: datetime | None = utc_field()
    # The columns that may hold a camera password are sealed at rest (controlplane.sealed).
    uri_rtsp: str | None = SQLField(default=None, sa_type=SealedString)
    picture_uri: str | None = SQLField(default=None, sa_type=SealedString)
    picture_auth: str | None = None
    picture_user: str | None = None
    picture_password: str | None = SQLField(default=None, sa_type=SealedString)
    description: str = ""
    ffmpeg_cmd: str | None = None
    agent_name: str | None = SQLField(default=None, index=True)  # where it is recorded
    agent_pinned: bool = False  # the client named the agent; never reassigned
    site: str | None = SQLField(default=None, max_length=128)  # None: any agent's site will do
    failover: bool = True
    redundancy: int = 1
    # The second agent of a dual-recorded source (redundancy 2), never the same as agent_name; placed
    # at a tag's start by a conditional UPDATE like agent_name.
    second_agent_name: str | None = SQLField(default=None, max_length=128)
    # The assignment version (list_version "assignment") of the last change of what its agent is told
    # of it: written by the database's triggers only (data.list_versions), read for heartbeat deltas.
    assign_v: int = SQLField(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})

    def apply(self, fields: SourceFields) -> None:
        """Write the fields the client sent, keeping stored secrets where it sent the mask back."""
        sent = fields.model_fields_set
        if "model" in sent and fields.model is not None:
            self.model = fields.model
        if "description" in sent:
            self.description = fields.description or ""
        if "uri_rtsp" in sent:
            self.uri_rtsp = (
                unmask_uri(fields.uri_rtsp, self.uri_rtsp, ("uri_rtsp",)) if fields.uri_rtsp else None
            )
        if "uri_http_picture" in sent:
            self._apply_picture(fields.uri_http_picture)
        if "ffmpeg_cmd" in sent:
            self.ffmpeg_cmd = fields.ffmpeg_cmd
        if "agent" in sent:
            self.agent_name = fields.agent or None
            self.agent_pinned = bool(fields.agent)
            if self.agent_name == self.second_agent_name:
                self.second_agent_name = None  # never both copies on one agent; placed again at start
        if "site" in sent and fields.site != self.site:
            self.site = fields.site or None
            self.second_agent_name = None
            if not self.agent_pinned:
                self.agent_name = None  # placed again, within its new site
        if "failover" in sent and fields.failover is not None:
            self.failover = fields.failover
        if "redundancy" in sent and fields.redundancy is not None:
            self.redundancy = fields.redundancy
            if self.redundancy < 2:
                self.second_agent_name = None

    def _apply_picture(self, picture: HttpPictureIn | None) -> None:
        if picture is None:
            self.picture_uri = self.picture_auth = self.picture_user = self.picture_password = None
            return
        # Both checks run before anything is written: a refused mask leaves the row as it was.
        uri = unmask_uri(picture.uri, self.picture_uri, ("uri_http_picture", "uri"))
        password = keep_picture_password(
            picture.password, uri, picture.user, self.picture_uri, self.picture_user, self.picture_password
        )
        self.picture_uri, self.picture_password = uri, password
        self.picture_auth = picture.auth.value
        self.picture_user = picture.user

    def as_create(self) -> SourceCreate:
        """The stored fields as a create body, to check the merged result of an update."""
        picture: dict[str, Any] | None = None
        if self.picture_uri:
            picture = {"uri": mask_uri(self.picture_uri), "auth": self.picture_auth or "basic"}
        return SourceCreate.model_validate(
            {
                "model": self.model,
                "description": self.description,
                # Masked: a refused merge is a 422 whose `input` must not carry the secrets.
                "uri_rtsp": mask_uri(self.uri_rtsp),
                "uri_http_picture": picture,
                "ffmpeg_cmd": self.ffmpeg_cmd,
            }
        )


# SourcePublic's fields that show a column of the same name as it is stored (no mask, no rename, no
# status rule). The source list's fast path (controlplane.data.sources, services.source_list) reads and
# writes these by name: a new field shown as stored is added here, and nowhere else outside this file.
SHOWN_AS_STORED: tuple[str, ...] = ("description", "ffmpeg_cmd", "site", "redundancy")


class SourcePublic(BaseModel):
    """A source as the API shows it: secrets masked."""

    id: int
    created_utc: UtcDatetimeOut
    status: SourceStatus
    status_detail: str | None = None
    status_utc: UtcDatetimeOut | None = Field(
        None, description="since when the status holds (the source's agent probes it every few seconds)"
    )
    model: SourceModel
    uri_rtsp: str | None
    uri_http_picture: HttpPictureOut | None
    description: str
    ffmpeg_cmd: str | None
    agent: str | None = Field(None, description="The agent that records this source")
    site: str | None = Field(None, description="Site whose agents may record it (any when null)")
    failover: bool = Field(True, description="Its recordings go on on another agent when its agent is down")
    redundancy: int = Field(1, description="How many agents of its site record it at once (1 or 2)")
    second_agent: str | None = Field(None, description="The second agent recording it (redundancy 2)")

    @classmethod
    def of(cls, row: Source, agent_offline: bool = False) -> SourcePublic:
        """`agent_offline`: nobody can tell how the camera is, so its status is unknown, not stale."""
        assert row.id is not None
        picture = None
        if row.picture_uri:
            picture = HttpPictureOut(
                uri=mask_uri(row.picture_uri) or "",
                auth=PictureAuth(row.picture_auth or PictureAuth.BASIC),
                user=row.picture_user,
                password=MASK if row.picture_password else None,
            )
        return cls(
            id=row.id,
            created_utc=row.created_utc,
            status=SourceStatus.UNKNOWN if agent_offline else row.status,
            status_detail=f"agent {row.agent_name} is offline" if agent_offline else row.status_detail,
            status_utc=row.status_utc,
            model=row.model,
            uri_rtsp=mask_uri(row.uri_rtsp),
            uri_http_picture=picture,
            agent=row.agent_name,
            failover=row.failover,
            second_agent=row.second_agent_name,
            **{name: getattr(row, name) for name in SHOWN_AS_STORED},
        )
