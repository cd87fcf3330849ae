"""The database engine and sessions; the one place that knows which SQL server is behind the data layer."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, String, event, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeDecorator
from sqlmodel.ext.asyncio.session import AsyncSession


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes and always gives back UTC-aware ones (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# How far the database's clock is ahead of this process's. Liveness and leases compare times that
# different replicas wrote, so every replica reads the one clock they share: the database's.
_clock_offset = timedelta(0)


class StrEnumColumn(TypeDecorator[StrEnum]):
    """A status or kind stored as its string value (a plain VARCHAR), read back as the enum, so
    Python code compares members, never strings."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: StrEnum | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


def utcnow() -> datetime:
    """Now, by the database's clock (as last measured by sync_clock)."""
    return datetime.now(UTC) + _clock_offset


async def sync_clock(engine: AsyncEngine) -> timedelta:
    """Measure the database server's clock against ours. SQLite runs in this process: no offset."""
    global _clock_offset
    if engine.dialect.name != "postgresql":
        return _clock_offset
    async with engine.connect() as conn:
        before = time.time()
        server = (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()
        after = time.time()
    midpoint = datetime.fromtimestamp((before + after) / 2, UTC)
    _clock_offset = server - midpoint
    return _clock_offset


def private_sqlite_file(url: str) -> None:
    """Make the SQLite file (and its folder) readable by this user alone before SQLite opens it: it
    holds camera passwords. SQLite gives its -wal and -shm files the database file's mode."""
    if not url.startswith("sqlite"):
        return
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if each.exists():
            each.chmod(0o600)  # a file from an older version may have been world-readable


def make_engine(
    url: str, pool_size: int = 10, max_overflow: int = 20, pool_timeout_s: float = 5.0
) -> AsyncEngine:
    """`pool_*`: PostgreSQL's connection pool (SQLAlchemy's QueuePool). A request that waits longer
    than `pool_timeout_s` for a connection is answered 503 with Retry-After (errors.py): an
    overloaded replica sheds load instead of queueing it until every caller times out."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # One writer at a time: wait for the lock rather than fail with "database is locked".
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs |= {
            "pool_pre_ping": True,
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_timeout": pool_timeout_s,
        }
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        _sqlite_pragmas(engine)
    return engine


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        # WAL lets readers go on while the heartbeat writes; foreign keys are off by default in SQLite.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def insert_for(session: AsyncSession) -> Callable[[Any], Any]:
    """The dialect's INSERT (both have ON CONFLICT DO NOTHING): inserts that give way on a unique key
    settle races between replicas without a savepoint (pysqlite's are unreliable)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def won(session: AsyncSession, statement: Executable) -> bool:
    """Run a conditional UPDATE that names one row: True when it changed it (this writer won the
    race), False when the condition no longer held."""
    result = await session.exec(statement)  # type: ignore[call-overload]
    return bool(result.rowcount == 1)
