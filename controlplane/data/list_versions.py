"""The list versions' triggers, and reading a version.

Triggers, not application code, bump the versions: every write reaches them, whichever replica,
service or bulk UPDATE makes it (a heartbeat's probe, a placement, a failover move, a revocation).

- SQLite has one writer at a time: a row trigger bumps the counter inside the writing transaction.
- PostgreSQL: a DEFERRED constraint trigger bumps it at COMMIT, once per transaction. The counter row
  is then locked only for the instant before the commit, while the transaction holds every other lock
  it will ever take and waits for nothing else: concurrent writers queue there but cannot deadlock.

SQLite's batch migrations copy a table and lose its triggers, so `install` runs after every upgrade
(controlplane.schema), not once in a revision; it creates only what is missing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.models import ListVersion
from shared.heartbeat import AssignedSource

# Version name → the tables whose changes it counts. A list's ETag names the versions of the tables
# it reads (the source list, also the agents' liveness: services.source_list).
VERSIONED: dict[str, tuple[str, ...]] = {
    "source": ("source",),
    "group": ("group",),
    "tag": ("tag",),
    "record": ("record",),
    # What agents are told in heartbeats: where each source is recorded and how to reach its camera.
    # Not its status, which probes rewrite all the time: an unchanged assignment costs a beat nothing.
    "assignment": ("source",),
}
# A version that counts changes of some columns only (INSERT and DELETE always count).
# The assignment counts where a source is recorded and every column an agent is sent of it: the
# fields of the wire shape (shared.heartbeat.AssignedSource, read from the row by name), so a new
# camera field is counted without a change here. A migration that adds such a column drops the
# assignment triggers, and `install` creates them again with it (see docs/architecture.md).
COLUMNS: dict[str, tuple[str, ...]] = {
    "assignment": ("agent_name", *(name for name in AssignedSource.model_fields if name != "id")),
}

# The assignment's triggers also stamp the changed row with the version they bumped to (source.assign_v):
# a heartbeat then answers only the sources whose stamp is newer than the version the agent holds.
# The stamp is the counter itself, so it is ordered as commits are: on PostgreSQL the counter row stays
# locked from its bump to the COMMIT, so a reader that sees version V sees every row stamped V or less
# (the stamping UPDATE touches only a row the transaction has already written, hence already locked).
STAMPED = "assignment"
_STAMP = (
    "UPDATE source SET assign_v = (SELECT n FROM list_version WHERE name = 'assignment') WHERE id = NEW.id"
)
_PG_STAMP_FUNCTION = """
CREATE OR REPLACE FUNCTION list_version_assignment_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE list_version SET n = n + 1, txid = txid_current()
     WHERE name = 'assignment' AND txid IS DISTINCT FROM txid_current();
    IF TG_OP <> 'DELETE' THEN
        UPDATE source SET assign_v = (SELECT n FROM list_version WHERE name = 'assignment') WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END
$$
"""

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION list_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE list_version SET n = n + 1, txid = txid_current()
     WHERE name = TG_ARGV[0] AND txid IS DISTINCT FROM txid_current();
    RETURN NULL;
END
$$
"""


def _trigger_name(version: str, table: str) -> str:
    return f"list_version_{version}_{table}"


def install(connection: Connection) -> None:
    """Seed each version's row and create the triggers that are missing (idempotent)."""
    postgres = connection.dialect.name == "postgresql"
    for version, tables in VERSIONED.items():
        # A random start: a database made again from nothing does not name its first states as the
        # one before did, whose ETags clients may still hold.
        seed = "INSERT INTO list_version (name, n) VALUES (:name, :n) ON CONFLICT (name) DO NOTHING"
        connection.execute(text(seed), {"name": version, "n": secrets.randbelow(2**48)})
        for table in tables:
            name = _trigger_name(version, table)
            update = "UPDATE"
            if version in COLUMNS:
                update += " OF " + ", ".join(f'"{c}"' for c in COLUMNS[version])
            if postgres:
                _install_pg(connection, name, version, table, update)
            else:
                for op in ("INSERT", update, "DELETE"):
                    # Names from VERSIONED and COLUMNS above, never from a request.
                    suffix = op.split()[0].lower()
                    stamp = f" {_STAMP};" if version == STAMPED and op != "DELETE" else ""
                    connection.exec_driver_sql(
                        f'CREATE TRIGGER IF NOT EXISTS "{name}_{suffix}" AFTER {op} ON "{table}" '  # noqa: S608
                        f"BEGIN UPDATE list_version SET n = n + 1 WHERE name = '{version}';{stamp} END"
                    )


def _install_pg(connection: Connection, name: str, version: str, table: str, update: str) -> None:
    exists = connection.execute(
        text("SELECT 1 FROM pg_trigger WHERE tgname = :name AND tgrelid = CAST(:table AS regclass)"),
        {"name": name, "table": f'"{table}"'},
    ).first()
    if exists:
        return
    if version == STAMPED:
        connection.exec_driver_sql(_PG_STAMP_FUNCTION)
        call = "list_version_assignment_bump()"
    else:
        connection.exec_driver_sql(_PG_FUNCTION)
        call = f"list_version_bump('{version}')"
    connection.exec_driver_sql(
        f'CREATE CONSTRAINT TRIGGER "{name}" AFTER INSERT OR {update} OR DELETE ON "{table}" '
        f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {call}"
    )


async def assignment_token(session: AsyncSession) -> str:
    """What every agent's heartbeat answer depends on, as one token: the sources' placement and
    camera fields (not their status) and the tags (their protection), as the database counts them."""
    placed, tags = await read(session, ("assignment", "tag"))
    return f"{placed}.{tags}"


def placed_version(token: str | None) -> int | None:
    """The assignment version inside a token an agent sent back (None: no token, or not one of ours)."""
    head = (token or "").partition(".")[0]
    return int(head) if head.isdigit() and len(head) < 19 else None


async def read(session: AsyncSession, names: Iterable[str]) -> tuple[int, ...]:
    """The current versions of `names`, in that order (one small query)."""
    wanted = tuple(names)
    stmt = select(ListVersion.name, ListVersion.n).where(col(ListVersion.name).in_(wanted))
    found = dict((await session.exec(stmt)).all())
    missing = set(wanted) - set(found)
    if missing:
        raise RuntimeError(f"list_version has no row for {sorted(missing)}: the schema was not upgraded")
    return tuple(found[name] for name in wanted)
