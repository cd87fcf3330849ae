"""Recorder agents as the control plane knows them from their heartbeats."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, false
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.models.common import UtcDatetimeOut, created_field, utc_field
from shared.enums import AgentState


class Agent(SQLModel, table=True):
    """An agent as stored; its row is written by its own heartbeats."""

    name: str = SQLField(primary_key=True, max_length=128)
    created_utc: datetime = created_field()
    address: str  # host:port of its gRPC server
    http_address: str | None = SQLField(default=None, max_length=256)  # its HTTP port: signed file URLs
    # What clients reach that port by (VIDEOREC_AGENT_PUBLIC_URL); set: downloads redirect there.
    public_url: str | None = SQLField(default=None, max_length=512)
    site: str = SQLField(default="default", max_length=128)  # sources fail over only within a site
    # Its token names `site` (vra2): the control plane's own token for it must name it too. False: a
    # vra1 token, and `site` is what its first heartbeat reported (agent_identity).
    site_bound: bool = SQLField(default=False, nullable=False, sa_column_kwargs={"server_default": false()})
    version: str = ""
    capacity: int = 0
    active_records: int = 0
    # BIGINT: PostgreSQL's INTEGER ends at 2 GiB, and disks do not.
    disk_free_bytes: int = SQLField(default=0, sa_type=BigInteger)
    disk_total_bytes: int = SQLField(default=0, sa_type=BigInteger)
    disk_reserve_bytes: int = SQLField(default=0, sa_type=BigInteger)  # below it, its records pause
    paused_records: int = 0  # records paused because its disk is below the reserve
    last_seen_utc: datetime | None = utc_field(index=True)
    revoked_utc: datetime | None = utc_field()  # its token no longer counts; the name is retired
    # Failover: when it was last declared down (once per outage), and since when it beats again; a
    # returning agent gets no new sources until it has been up for a while.
    down_utc: datetime | None = utc_field()
    up_since_utc: datetime | None = utc_field()

    @property
    def token_site(self) -> str | None:
        """The site its token names, which the token the control plane dials it with must name too."""
        return self.site if self.site_bound else None


class AgentPublic(BaseModel):
    name: str
    state: AgentState = Field(description="online while it keeps sending heartbeats")
    address: str
    site: str = "default"
    site_bound: bool = Field(
        False, description="its site is the one its enrolment names; false: the one it first reported"
    )
    version: str
    capacity: int
    active_records: int
    disk_free_bytes: int
    disk_total_bytes: int
    disk_reserve_bytes: int = Field(0, description="free space the agent keeps; below it records pause")
    pausing_for_space: bool = Field(False, description="records are paused because the disk is full")
    created_utc: UtcDatetimeOut
    last_seen_utc: UtcDatetimeOut | None
    revoked: bool = Field(False, description="revoked by an admin: refused, and its sources moved")
    down_utc: UtcDatetimeOut | None = Field(None, description="when it was last declared down (failover)")
    up_since_utc: UtcDatetimeOut | None = Field(None, description="start of its current run of heartbeats")
