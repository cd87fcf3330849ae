"""The audit trail's rows: insert and read, nothing else, except retention's purge.

The application never updates or deletes an entry: there is no function here to do it, and the
database refuses an UPDATE of one (`install`, a trigger), whoever sends it through the application's
connection. Deleting is left to retention's purge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, text
from sqlalchemy.engine import Connection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.models import AuditEntry

APPEND_ONLY = "audit_append_only"  # the trigger's name (and its function's, on PostgreSQL)
_PG_APPEND_ONLY = f"""
CREATE OR REPLACE FUNCTION {APPEND_ONLY}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only: an entry is never changed';
END $$"""
# Any constant that every replica shares, other than schema.py's migration lock.
_PG_PURGE_LOCK = 0x76_72_61_75_64_69_74  # "vraudit"


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    target: str | None = None


async def insert(session: AsyncSession, row: AuditEntry) -> None:
    session.add(row)
    await session.flush()


async def page(session: AsyncSession, where: AuditFilter, offset: int, limit: int) -> Sequence[AuditEntry]:
    """Newest first (the id breaks ties between entries of the same instant)."""
    stmt = select(AuditEntry)
    if where.since is not None:
        stmt = stmt.where(col(AuditEntry.time_utc) >= where.since)
    if where.until is not None:
        stmt = stmt.where(col(AuditEntry.time_utc) < where.until)
    if where.actor is not None:
        stmt = stmt.where(col(AuditEntry.actor) == where.actor)
    if where.action is not None:
        stmt = stmt.where(col(AuditEntry.action) == where.action)
    if where.target is not None:
        stmt = stmt.where(col(AuditEntry.target) == where.target)
    stmt = (
        stmt.order_by(col(AuditEntry.time_utc).desc(), col(AuditEntry.id).desc()).offset(offset).limit(limit)
    )
    return (await session.exec(stmt)).all()


async def purge_before(session: AsyncSession, cutoff: datetime, batch: int) -> int | None:
    """Delete up to `batch` of the oldest entries older than `cutoff`; how many went, or None when
    another replica is purging right now (PostgreSQL). The batch keeps each transaction short.

    Concurrent purges are safe either way (deleting what is already gone deletes nothing); the lock
    only keeps two replicas from taking row locks on the same rows in different orders (a deadlock)
    and from doing the work twice. SQLite has one writer at a time and needs none."""
    if session.get_bind().dialect.name == "postgresql":
        connection = await session.connection()
        locked = (
            await connection.execute(text(f"SELECT pg_try_advisory_xact_lock({_PG_PURGE_LOCK})"))
        ).scalar()
        if not locked:
            return None
    oldest = (
        select(AuditEntry.id)
        .where(col(AuditEntry.time_utc) < cutoff)
        .order_by(col(AuditEntry.id))
        .limit(batch)
        .scalar_subquery()
    )
    result = await session.exec(delete(AuditEntry).where(col(AuditEntry.id).in_(oldest)))  # type: ignore[call-overload]
    return int(result.rowcount)


def install(connection: Connection) -> None:
    """Create the trigger that refuses changing an entry, when missing (idempotent). Run after every
    upgrade (schema.py), as SQLite's batch migrations drop a table's triggers with the table."""
    if connection.dialect.name == "postgresql":
        exists = connection.execute(
            text("SELECT 1 FROM pg_trigger WHERE tgname = :name AND tgrelid = CAST('audit' AS regclass)"),
            {"name": APPEND_ONLY},
        ).first()
        if not exists:
            connection.exec_driver_sql(_PG_APPEND_ONLY)
            connection.exec_driver_sql(
                f'CREATE TRIGGER "{APPEND_ONLY}" BEFORE UPDATE ON "audit" '
                f"FOR EACH ROW EXECUTE FUNCTION {APPEND_ONLY}()"
            )
        return
    connection.exec_driver_sql(
        f'CREATE TRIGGER IF NOT EXISTS "{APPEND_ONLY}" BEFORE UPDATE ON "audit" '
        "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: an entry is never changed'); END"
    )
