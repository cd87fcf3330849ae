"""Tags: named recording sessions that hold one record per recorded source."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.models.common import UtcDatetimeOut, created_field
from controlplane.models.record import RecordPublic


class Tag(SQLModel, table=True):
    """A tag as stored; created by the first recording that names it."""

    id: int | None = SQLField(default=None, primary_key=True)
    created_utc: datetime = created_field()
    name: str = SQLField(unique=True, index=True)


class TagPublic(BaseModel):
    id: int
    created_utc: UtcDatetimeOut
    name: str
    records: list[RecordPublic]
