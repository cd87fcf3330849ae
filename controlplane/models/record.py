"""Records: one source's recording under one tag."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.db import StrEnumColumn
from controlplane.models.common import UtcDatetimeOut, created_field, utc_field
from controlplane.models.source import SourcePublic
from shared.enums import GapReason, RecordStatus, SourceModel


class Record(SQLModel, table=True):
    """A record as stored. Its id is a UUID so that agents can name records on their own."""

    id: str = SQLField(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    created_utc: datetime = created_field()
    tag_id: int = SQLField(foreign_key="tag.id", index=True)
    # Kept when the source is deleted later: the recording still exists.
    source_id: int | None = SQLField(default=None, foreign_key="source.id", index=True, ondelete="SET NULL")
    status: RecordStatus = SQLField(
        default=RecordStatus.PENDING,
        sa_column=Column(StrEnumColumn(RecordStatus), index=True, nullable=False),
    )
    begin_utc: datetime | None = utc_field()
    end_utc: datetime | None = utc_field()
    hash_md5: str | None = None
    location: str | None = None
    sync_location: str | None = None
    agent_name: str | None = None
    size_bytes: int | None = SQLField(default=None, sa_type=BigInteger)  # recordings pass 2 GiB
    duration_s: float | None = None
    error: str | None = None
    gaps: list[dict[str, Any]] = SQLField(default_factory=list, sa_type=JSON)
    # The record this one continues on another agent after its agent was declared down; unique, so
    # two replicas deciding at once cannot both continue it.
    # (A unique index, not a foreign key: SQLite would copy the whole table to add one.)
    continues: str | None = SQLField(default=None, unique=True, index=True, max_length=36)
    # Set when the database had lost it and it came back from its agent's journal (controlplane.journal_sync).
    recovered_utc: datetime | None = utc_field()

    def continuation(
        self, agent_name: str, gap_start: str, gap_end: datetime, lost_agent: str | None = None
    ) -> Record:
        """A record of the same tag and source going on on `agent_name` where this one stopped
        (failover); the time between is its `failover` gap, which names the agent that was lost
        (`lost_agent`: for a continuation that failed in turn, the first one's agent)."""
        gap = {
            "start_utc": gap_start,
            "end_utc": gap_end.isoformat(),
            "reason": GapReason.FAILOVER.value,
            "detail": f"agent {lost_agent or self.agent_name} was lost",
        }
        return Record(
            tag_id=self.tag_id, source_id=self.source_id, agent_name=agent_name, continues=self.id, gaps=[gap]
        )


class Gap(BaseModel):
    start_utc: UtcDatetimeOut
    end_utc: UtcDatetimeOut
    reason: GapReason = Field(
        GapReason.CAMERA,
        description="camera: the camera was lost; disk: the agent's disk was full (recording paused for "
        "space); failover: the agent was lost and the record goes on on another agent",
    )
    detail: str | None = Field(
        None,
        description="Why, in the camera's or the agent's words (redacted, at most 200 characters), e.g. "
        "`Connection refused`; null from an agent of the previous release",
    )


class RecordPublic(BaseModel):
    id: str
    created_utc: UtcDatetimeOut
    status: RecordStatus
    begin_utc: UtcDatetimeOut | None
    end_utc: UtcDatetimeOut | None
    source: SourcePublic | None
    hash_md5: str | None
    location: str | None
    sync_location: str | None
    tag_name: str
    agent: str | None
    size_bytes: int | None = SQLField(default=None, sa_type=BigInteger)  # recordings pass 2 GiB
    duration_s: float | None = None
    error: str | None = None
    gaps: list[Gap] = Field(default_factory=list, description="Intervals with no video")
    continues: str | None = Field(None, description="The record this one continues after a failover")
    recovered_utc: UtcDatetimeOut | None = Field(
        None,
        description="When the control plane took it back from its agent's journal, having lost it (a "
        "database restored from an older backup); null for a record it never lost",
    )


class RecordStart(BaseModel):
    """POST /record: start every source of a group under a tag."""

    model_config = ConfigDict(extra="forbid")

    tag_name: str = Field(min_length=1, max_length=200)
    group_name: str = Field(min_length=1, max_length=200)
    model: SourceModel | None = Field(None, description="Record only the sources of this model")


class RecordStop(BaseModel):
    """PUT /record: stop the tag's running records."""

    model_config = ConfigDict(extra="forbid")

    tag_name: str = Field(min_length=1, max_length=200)
    model: SourceModel | None = None
