"""Sync jobs: copying a tag's finished records to another video server."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import JSON, BigInteger, Column
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.db import StrEnumColumn
from controlplane.models.common import UtcDatetimeOut, created_field, utc_field

# Bytes/s a job may be capped at: far above any link, and inside a signed 64-bit column.
MAX_BANDWIDTH_BPS = 2**40


def destination_key(location: str) -> str:
    """What two jobs must not copy to at the same time: one agent, one peer, one bucket."""
    scheme, _, rest = location.partition("://")
    return f"{scheme.lower()}://{rest.split('/', 1)[0].rsplit('@', 1)[-1].lower()}"


class SyncStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"  # every record copied and verified, or skipped with a reason
    FAILED = "failed"  # some record could not be copied after its retries


class ItemStatus(StrEnum):
    PENDING = "pending"
    COPIED = "copied"
    SKIPPED = "skipped"
    FAILED = "failed"


class SyncStart(BaseModel):
    """POST /sync."""

    model_config = ConfigDict(extra="forbid")

    tag_name: str = Field(min_length=1, max_length=200)
    location: str = Field(min_length=3, max_length=2048)
    bandwidth_bps: int | None = Field(
        None, gt=0, le=MAX_BANDWIDTH_BPS, description="Cap of this job's copy rate in bytes/s"
    )


class SyncItem(BaseModel):
    """One record of a job and how far its copy got."""

    record_id: str
    status: ItemStatus
    bytes: int = 0
    sync_location: str | None = None
    error: str | None = None
    attempts: int = 0


_ITEMS = TypeAdapter(list[SyncItem])


class SyncItemsJSON(TypeDecorator[list[SyncItem]]):
    """The items as a JSON array in the row, as models in Python."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: list[SyncItem] | None, dialect: Dialect) -> Any:
        return None if value is None else _ITEMS.dump_python(value, mode="json")

    def process_result_value(self, value: Any, dialect: Dialect) -> list[SyncItem] | None:
        return None if value is None else _ITEMS.validate_python(value)


class SyncJob(SQLModel, table=True):
    """A job as stored; its items keep per-record progress so it resumes where it stopped."""

    id: str = SQLField(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    created_utc: datetime = created_field()
    updated_utc: datetime | None = utc_field()
    tag_name: str
    location: str
    status: SyncStatus = SQLField(
        default=SyncStatus.QUEUED, sa_column=Column(StrEnumColumn(SyncStatus), index=True, nullable=False)
    )
    bandwidth_bps: int | None = SQLField(default=None, sa_type=BigInteger)
    bytes_total: int = SQLField(default=0, sa_type=BigInteger)
    bytes_done: int = SQLField(default=0, sa_type=BigInteger)
    items: list[SyncItem] = SQLField(default_factory=list, sa_column=Column(SyncItemsJSON, nullable=False))
    # The replica running it and until when: another replica takes over once the lease lapses, and
    # from then on every write of the old one is refused (its WHERE lease_owner no longer matches).
    lease_owner: str | None = None
    lease_until: datetime | None = utc_field()


class SyncJobPublic(BaseModel):
    id: str
    created_utc: UtcDatetimeOut
    updated_utc: UtcDatetimeOut | None
    tag_name: str
    location: str
    status: SyncStatus
    records_total: int
    records_done: int
    bytes_total: int
    bytes_done: int
    bandwidth_bps: int | None
    items: list[SyncItem]
    errors: list[SyncItem] = Field(description="The items that failed, with their reasons")

    @classmethod
    def of(cls, job: SyncJob) -> SyncJobPublic:
        items = job.items
        done = [i for i in items if i.status in (ItemStatus.COPIED, ItemStatus.SKIPPED)]
        return cls(
            **job.model_dump(include=set(cls.model_fields) & set(SyncJob.model_fields)),
            records_total=len(items),
            records_done=len(done),
            errors=[i for i in items if i.status is ItemStatus.FAILED],
        )
