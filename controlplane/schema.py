"""The database schema's version: upgrade it to head, or refuse to serve one older than the code.

Replicas may start together: on PostgreSQL an advisory lock held for the upgrade's transaction makes
the others wait and then find nothing to do; on SQLite (one host) a lock file does the same."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import functools
import logging
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import SQLModel

from controlplane import models  # noqa: F401  (registers the tables)
from controlplane.data import audit as audit_data
from controlplane.data import list_versions
from controlplane.db import make_engine

log = logging.getLogger(__name__)
BASELINE = "0001"
_PG_LOCK_KEY = 0x76_69_64_65_6F_72_65_63  # "videorec": any constant shared by every replica


class SchemaOutOfDateError(RuntimeError):
    """The database is older than this code: it must be migrated before the service serves it."""


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache  # the revision files are parsed once: /readyz asks on every probe
def head() -> str:
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> str | None:
    before = _current(connection)
    if before is None and not inspect(connection).get_table_names():
        # An empty database: create head's tables at once, as Alembic's cookbook does (`make lint`
        # proves the revisions build the same schema).
        SQLModel.metadata.create_all(connection)
        command.stamp(config(connection), "head")
        _install_triggers(connection)
        return before
    if before is None and inspect(connection).has_table("source"):
        # A database made by create_all before migrations existed holds exactly the baseline.
        log.info("database has tables but no revision: stamping baseline %s", BASELINE)
        command.stamp(config(connection), BASELINE)
    command.upgrade(config(connection), "head")
    _install_triggers(connection)  # after every upgrade: a batch migration may have dropped them
    return before


def _install_triggers(connection: Connection) -> None:
    list_versions.install(connection)
    audit_data.install(connection)


@asynccontextmanager
async def _exclusive(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction that no other process upgrading the same database runs beside."""
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
            yield conn
        return
    database = engine.url.database
    if not database or database == ":memory:":
        async with engine.begin() as conn:
            yield conn
        return
    lock = await asyncio.to_thread(_lock_file, Path(f"{database}.migrate-lock"))
    try:
        async with engine.begin() as conn:
            yield conn
    finally:
        lock.close()  # closing the file releases the lock


def _lock_file(path: Path) -> BinaryIO:
    lock = path.open("a+b")
    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
    return lock


async def upgrade(engine: AsyncEngine) -> None:
    async with _exclusive(engine) as conn:
        before = await conn.run_sync(_upgrade)
    target = head()
    if before != target:
        log.info("database schema upgraded from %s to %s", before or "nothing", target)


async def current(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def require_head(engine: AsyncEngine) -> None:
    """Refuse an older schema: the code would read columns that are not there yet."""
    found, wanted = await current(engine), head()
    if found == wanted:
        return
    known = {rev.revision for rev in ScriptDirectory.from_config(config()).walk_revisions()}
    if found is not None and found not in known:
        # A newer replica migrated first (rolling update); revisions only add, so this code still works.
        log.warning("database schema %s is newer than this code (%s)", found, wanted)
        return
    raise SchemaOutOfDateError(
        f"database schema is at {found or 'nothing'}, this code needs {wanted}: "
        "run `videorec-controlplane migrate` first"
    )


async def _by_revisions(engine: AsyncEngine) -> None:
    """Build head by running every revision (upgrade() takes a shortcut on an empty database)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(config(c), "head"))


async def _check_models() -> None:
    """`alembic check` against a fresh database upgraded to head: models and revisions agree."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp}/check.db")
        try:
            await _by_revisions(engine)
            async with engine.connect() as conn:
                await conn.run_sync(lambda c: command.check(config(c)))
        finally:
            await engine.dispose()


async def _autogenerate(message: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp}/rev.db")
        try:
            await _by_revisions(engine)
            async with engine.begin() as conn:
                await conn.run_sync(lambda c: command.revision(config(c), message=message, autogenerate=True))
        finally:
            await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Developer tools: `python -m controlplane.schema check|revision -m MESSAGE`."""
    parser = argparse.ArgumentParser(prog="python -m controlplane.schema")
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("check", help="fail when the models and the migrations disagree")
    rev = sub.add_parser("revision", help="write a new revision from the models' changes")
    rev.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.what == "check":
        asyncio.run(_check_models())
        print("schema: models and migrations agree")
    else:
        asyncio.run(_autogenerate(args.message))
    return 0


if __name__ == "__main__":
    sys.exit(main())
