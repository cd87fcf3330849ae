"""Sync jobs: copying a tag's finished records to another video server."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, String
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.models.common import UtcDatetimeOut, created_field, utc_field


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
    bandwidth_bps: int | None = Field(None, gt=0, description="Cap of this job's copy rate in bytes/s")


class SyncJob(SQLModel, table=True):
    """A job as stored; its items keep per-record progress so it resumes where it stopped."""

    id: str = SQLField(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    created_utc: datetime = created_field()
    updated_utc: datetime | None = utc_field()
    tag_name: str
    location: str
    status: str = SQLField(default=SyncStatus.QUEUED.value, sa_type=String(16), index=True)
    bandwidth_bps: int | None = None
    bytes_total: int = 0
    bytes_done: int = 0
    items: list[dict[str, Any]] = SQLField(default_factory=list, sa_type=JSON)
    # The replica running it and until when: another replica takes over once the lease lapses.
    lease_owner: str | None = None
    lease_until: datetime | None = utc_field()


class SyncItem(BaseModel):
    record_id: str
    status: ItemStatus
    bytes: int = 0
    sync_location: str | None = None
    error: str | None = None
    attempts: int = 0


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
        items = [SyncItem.model_validate(i) for i in job.items]
        done = [i for i in items if i.status in (ItemStatus.COPIED, ItemStatus.SKIPPED)]
        return cls(
            id=job.id,
            created_utc=job.created_utc,
            updated_utc=job.updated_utc,
            tag_name=job.tag_name,
            location=job.location,
            status=SyncStatus(job.status),
            records_total=len(items),
            records_done=len(done),
            bytes_total=job.bytes_total,
            bytes_done=job.bytes_done,
            bandwidth_bps=job.bandwidth_bps,
            items=items,
            errors=[i for i in items if i.status is ItemStatus.FAILED],
        )
