"""Tags: named recording sessions that hold one record per recorded source."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.models.common import UtcDatetimeOut, created_field, utc_field
from controlplane.models.record import RecordPublic


class Tag(SQLModel, table=True):
    """A tag as stored; created by the first recording that names it."""

    id: int | None = SQLField(default=None, primary_key=True)
    created_utc: datetime = created_field()
    name: str = SQLField(unique=True, index=True)
    # Bumped by every start with a conditional UPDATE: two starts of one tag that both saw the same
    # value cannot both win, whichever replica or database serves them.
    start_seq: int = SQLField(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
    # Agents' retention never deletes a record of a protected tag (they learn the list by heartbeat).
    protected: bool = SQLField(default=False, nullable=False, sa_column_kwargs={"server_default": "false"})
    # When it was last stopped: a continuation that failed before it is not tried again.
    stopped_utc: datetime | None = utc_field()


class TagUpdate(BaseModel):
    """What `PUT /tag?name=T` may change."""

    protected: bool = Field(description="retention never deletes a record of a protected tag")


class TagPublic(BaseModel):
    id: int
    created_utc: UtcDatetimeOut
    name: str
    protected: bool = False
    records: list[RecordPublic]


class TagSummary(BaseModel):
    """A tag in the list of tags: what a console needs to offer it, without its records."""

    name: str
    created_utc: UtcDatetimeOut
    protected: bool
    recording: bool = Field(description="some record of it is pending, recording or stopping")
