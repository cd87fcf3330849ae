"""Versions of the lists that pollers re-read: the database bumps one on every change of its table.

A list's ETag derives from its version, so every replica on one database names the same state alike,
and a process-local cache of the serialised list is checked against it on each request."""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel


class ListVersion(SQLModel, table=True):
    __tablename__ = "list_version"

    name: str = SQLField(primary_key=True, max_length=32)  # the table whose changes it counts
    n: int = SQLField(default=0, sa_type=BigInteger)
    # PostgreSQL: the transaction that last bumped it, so that one transaction bumps it once.
    txid: int | None = SQLField(default=None, sa_type=BigInteger)
