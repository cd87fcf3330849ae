"""`videorec-controlplane backup PATH` / `restore PATH`: a deployment on the embedded database, whole.

A backup is the SQLite database, copied by SQLite's online backup API while the service runs (one
read snapshot: a WAL reader blocks no writer, and a file copy could catch a page half-written), and
the key files of the data folder (`agents.key`: without it no enrolled agent's token is accepted).
A manifest lists every file with its SHA-256, so a restore notices a file lost or damaged on the way.
A restore fills a data folder that holds no database yet and never overwrites a live one.

PostgreSQL has its own tools (`pg_dump -Fc`, `pg_restore`): these commands only name them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shlex
import shutil
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import URL, make_url

from controlplane.settings import Settings

DATABASE_FILE = "videorec.db"
MANIFEST_FILE = "MANIFEST.json"
REFUSED = 2


class BackupRefusedError(Exception):
    """What the admin must know; nothing was changed. The command exits 2 with it."""


class Manifest(BaseModel):
    """What a backup holds: each file's SHA-256, and the schema revision of its database."""

    made_utc: datetime
    schema_revision: str | None
    files: dict[str, str]


def run(command: str, settings: Settings, path: Path) -> int:
    try:
        done = backup(settings, path) if command == "backup" else restore(settings, path)
    except BackupRefusedError as exc:
        print(exc, file=sys.stderr)
        return REFUSED
    print(done)
    return 0


def backup(settings: Settings, path: Path) -> str:
    database = _sqlite_file(settings, "backup")
    if not _holds_database(database):
        raise BackupRefusedError(f"no database at {database}: nothing to back up")
    _new_private_dir(path)
    try:
        revision = _online_copy(database, path / DATABASE_FILE)
        for key in _key_files(settings.data_dir):
            _write_private(path / key.name, key)
        files = {p.name: _sha256(p) for p in sorted(path.iterdir())}
        manifest = Manifest(made_utc=datetime.now(UTC), schema_revision=revision, files=files)
        _write_private(path / MANIFEST_FILE, manifest.model_dump_json(indent=2).encode())
        _fsync_dir(path)
    except BaseException:
        # Half a backup must not pass for one (the folder was empty or new: all in it is ours).
        for written in path.iterdir():
            written.unlink()
        raise
    keys = [name for name in files if name != DATABASE_FILE]
    note = ""
    if settings.agents_key is not None:
        note = "\nVIDEOREC_AGENTS_KEY is set in the environment: it is not in the backup, keep it with it"
    return f"backed up {database} (schema {revision}) and {', '.join(keys) or 'no key file'} to {path}{note}"


def restore(settings: Settings, path: Path) -> str:
    database = _sqlite_file(settings, "restore")
    manifest = _checked_manifest(path)
    if _holds_database(database):
        raise BackupRefusedError(
            f"{database} already holds a database: a restore never overwrites one. Stop the service, "
            "move its data folder away and restore into an empty one; nothing was changed"
        )
    keys = [name for name in manifest.files if name != DATABASE_FILE]
    # Every refusal before the first write: a refused restore leaves the data folder as it was.
    for name in keys:
        present = settings.data_dir / name
        if present.exists() and present.read_bytes() != (path / name).read_bytes():
            raise BackupRefusedError(
                f"{present} exists and differs from the backup's (made by a start before the restore?): "
                "remove it and restore again; nothing was changed"
            )
    for folder in {settings.data_dir, database.parent}:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
    for name in keys:
        if not (settings.data_dir / name).exists():  # else the same key, checked above
            _place(path / name, settings.data_dir / name)
    # The database last: once it is there the folder is a deployment, with its keys already beside it.
    _place(path / DATABASE_FILE, database)
    made = manifest.made_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"restored {database} (schema {manifest.schema_revision}, backed up {made}) and "
        f"{', '.join(keys) or 'no key file'} from {path}; the service upgrades the schema when it starts"
    )


def _sqlite_file(settings: Settings, command: str) -> Path:
    url = make_url(settings.resolved_database_url())
    if url.get_backend_name() == "postgresql":
        raise BackupRefusedError(postgres_advice(command, url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupRefusedError(f"cannot {command} a {url.get_backend_name()} database")
    return Path(url.database)


def postgres_advice(command: str, url: URL) -> str:
    """The PostgreSQL tool's command line for this database: its connection options without the
    password, which comes from ~/.pgpass or PGPASSFILE (a command line is visible to every user)."""
    if command == "backup":
        argv = ["pg_dump", "-Fc", *_pg_connection(url, url.database), "-f", "videorec.dump"]
        return (
            "VIDEOREC_DATABASE_URL is PostgreSQL: back it up with its own tool (the password from ~/.pgpass "
            "or PGPASSFILE), and keep VIDEOREC_AGENTS_KEY with the dump (docs/operations.md):\n  "
            + shlex.join(argv)
        )
    argv = ["pg_restore", "--no-owner", *_pg_connection(url, "NEW_DATABASE"), "videorec.dump"]
    return (
        "VIDEOREC_DATABASE_URL is PostgreSQL: restore a `pg_dump -Fc` dump with its own tool into a new, "
        "empty database (createdb NEW_DATABASE), then point VIDEOREC_DATABASE_URL at it and run "
        "`videorec-controlplane migrate` (docs/operations.md):\n  " + shlex.join(argv)
    )


def _pg_connection(url: URL, database: str | None) -> list[str]:
    args = []
    for flag, value in (("-h", url.host), ("-p", url.port), ("-U", url.username), ("-d", database)):
        if value is not None:
            args += [flag, str(value)]
    return args


def _holds_database(database: Path) -> bool:
    """An empty file is no database: a start that failed leaves one (db.private_sqlite_file)."""
    wal = Path(f"{database}-wal")
    return any(p.exists() and p.stat().st_size > 0 for p in (database, wal))


def _new_private_dir(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupRefusedError(f"{path} exists and is not an empty directory: a backup goes into a new one")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # mkdir's mode passes through the umask, and an empty folder may have been made open


def _online_copy(database: Path, target: Path) -> str | None:
    """Copy `database` into `target` (made 0600 first) in one backup step; return its schema revision."""
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    # Read-only: a backup must never create or change the live database.
    source = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        # One self-contained file: the service turns WAL on again when it opens the restored copy.
        copy.execute("PRAGMA journal_mode=DELETE")
        if (check := copy.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
            raise BackupRefusedError(f"the copy of {database} fails SQLite's check: {check}")
        with contextlib.suppress(sqlite3.OperationalError):  # a database never migrated has no table
            return str(copy.execute("SELECT version_num FROM alembic_version").fetchone()[0])
        return None
    finally:
        copy.close()
        source.close()
        with open(target, "rb") as done:
            os.fsync(done.fileno())


def _key_files(data_dir: Path) -> list[Path]:
    """Every key the data folder keeps (`agents.key`, and any later one named *.key)."""
    if not data_dir.is_dir():
        return []
    return sorted(p for p in data_dir.glob("*.key") if p.is_file() and not p.is_symlink())


def _write_private(target: Path, content: Path | bytes) -> None:
    """Write a new file readable by this user alone (0600 from its creation, not chmod-ed later)."""
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as out:
        if isinstance(content, bytes):
            out.write(content)
        else:
            with content.open("rb") as source:
                shutil.copyfileobj(source, out, 1024 * 1024)
        out.flush()
        os.fsync(out.fileno())


def _place(source: Path, target: Path) -> None:
    """Copy `source` to `target` whole or not at all: written under another name, then linked (an
    empty database file left by a failed start is replaced; anything else there is refused)."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}")
    _write_private(partial, source)
    try:
        if target.exists() and target.stat().st_size == 0:
            os.replace(partial, target)
        else:
            try:
                os.link(partial, target)
            except FileExistsError:
                raise BackupRefusedError(f"{target} appeared during the restore: not overwritten") from None
    finally:
        partial.unlink(missing_ok=True)
    _fsync_dir(target.parent)


def _checked_manifest(path: Path) -> Manifest:
    try:
        manifest = Manifest.model_validate_json((path / MANIFEST_FILE).read_bytes())
    except (OSError, ValueError) as exc:
        raise BackupRefusedError(
            f"{path} is not a backup made by `videorec-controlplane backup`: {exc}"
        ) from exc
    if DATABASE_FILE not in manifest.files:
        raise BackupRefusedError(f"{path}/{MANIFEST_FILE} names no database")
    for name, digest in manifest.files.items():
        if Path(name).name != name or name == MANIFEST_FILE:
            raise BackupRefusedError(f"{path}/{MANIFEST_FILE} names a file outside the backup: {name!r}")
        file = path / name
        if not file.is_file() or _sha256(file) != digest:
            raise BackupRefusedError(
                f"{file} is missing or differs from the backup's manifest; nothing was changed"
            )
    return manifest


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
