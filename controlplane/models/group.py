"""Groups: named sets of sources that are recorded together."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.models.common import UtcDatetimeOut, created_field
from controlplane.models.source import SourcePublic


class GroupCreate(BaseModel):
    """POST body; `model` is accepted for compatibility with the original API and ignored."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    model: str | None = Field(None, max_length=64, description="Accepted and ignored")

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


class Group(SQLModel, table=True):
    """A group as stored; names are unique."""

    id: int | None = SQLField(default=None, primary_key=True)
    created_utc: datetime = created_field()
    name: str = SQLField(unique=True, index=True)


class GroupSourceLink(SQLModel, table=True):
    """Membership of a source in a group; goes with either side."""

    group_id: int = SQLField(foreign_key="group.id", primary_key=True, ondelete="CASCADE")
    source_id: int = SQLField(foreign_key="source.id", primary_key=True, ondelete="CASCADE")


class GroupPublic(BaseModel):
    id: int
    created_utc: UtcDatetimeOut
    name: str

    @classmethod
    def of(cls, row: Group) -> GroupPublic:
        assert row.id is not None
        return cls(id=row.id, created_utc=row.created_utc, name=row.name)


class GroupWithSources(GroupPublic):
    sources: list[SourcePublic]
