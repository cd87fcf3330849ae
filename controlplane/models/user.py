"""Users: a name, a role and the hash of their API key (auth.keys)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.auth.roles import Role
from controlplane.db import StrEnumColumn
from controlplane.models.common import UtcDatetimeOut, created_field


class User(SQLModel, table=True):
    """A user as stored: never the key itself."""

    name: str = SQLField(primary_key=True, max_length=64)
    created_utc: datetime = created_field()
    role: Role = SQLField(sa_column=Column(StrEnumColumn(Role), nullable=False))
    key_id: str = SQLField(unique=True, index=True, max_length=32)  # finds the row on every request
    key_hash: str = SQLField(max_length=128)  # Argon2id of the key's secret (SHA-256 in older rows)


class UserPublic(BaseModel):
    """What `user list` shows."""

    name: str
    role: Role
    created_utc: UtcDatetimeOut

    @classmethod
    def of(cls, row: User) -> UserPublic:
        return cls(name=row.name, role=row.role, created_utc=row.created_utc)
