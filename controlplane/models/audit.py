"""The audit trail: one row per state change, download, live view opened or refused request."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, Integer
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.auth.principal import ActorKind
from controlplane.db import StrEnumColumn, UtcDateTime
from controlplane.models.common import UtcDatetimeOut


class AuditResult(StrEnum):
    OK = "ok"  # done (2xx, 3xx)
    REFUSED = "refused"  # not authenticated (401) or not allowed (403)
    FAILED = "failed"  # allowed, but it did not happen (another 4xx, 5xx)


class AuditEntry(SQLModel, table=True):
    """A row as stored. The application only inserts and reads them (data.audit); retention purges.
    Nothing here ever holds a key, a token or a camera credential."""

    __tablename__ = "audit"

    # BIGINT on PostgreSQL (a busy site passes 2^31 rows over years); SQLite's rowid is 64-bit already.
    id: int | None = SQLField(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    time_utc: datetime = SQLField(sa_type=UtcDateTime, nullable=False, index=True)
    actor_kind: ActorKind = SQLField(sa_column=Column(StrEnumColumn(ActorKind), nullable=False))
    actor: str | None = SQLField(default=None, max_length=128, index=True)
    role: str | None = SQLField(default=None, max_length=16)
    action: str = SQLField(max_length=128, index=True)
    target: str | None = SQLField(default=None, max_length=300, index=True)
    detail: str | None = SQLField(default=None, max_length=500)
    result: AuditResult = SQLField(sa_column=Column(StrEnumColumn(AuditResult), nullable=False))
    status: int | None = None  # the HTTP status answered (None: a command on the host)
    permission: str | None = SQLField(default=None, max_length=32)  # what the action needed
    client: str | None = SQLField(default=None, max_length=64)  # the client's address


class AuditEntryPublic(BaseModel):
    """One entry of GET /api/v1/audit."""

    id: int
    time_utc: UtcDatetimeOut
    actor_kind: ActorKind = Field(
        description="user, token (the bootstrap admin), sso, local, agent, cli, anonymous"
    )
    actor: str | None = Field(description="the user's name (or the agent's, the host user's for cli)")
    role: str | None
    action: str = Field(
        description="what was asked: the route's name (start_recording, delete_record_file...)"
    )
    target: str | None = Field(description="what it was about: tag:NAME, record:ID, source:ID, group:ID...")
    detail: str | None
    result: AuditResult
    status: int | None = Field(description="the HTTP status answered")
    permission: str | None = Field(description="the permission the action needed")
    client: str | None = Field(description="the client's address")

    @classmethod
    def of(cls, row: AuditEntry) -> AuditEntryPublic:
        assert row.id is not None
        return cls.model_validate(row, from_attributes=True)
