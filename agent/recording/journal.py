"""The agent's local journal: one SQLite file under the storage root that lists every record the
agent holds, so that an agent restart resumes what was recording and finalises what was stopping.

A resumed recording must reconnect without the control plane, so a record's camera credentials are
kept, but sealed: with a key (derived from the agent's token, which lives in its environment, not
beside the journal) the URLs are stored redacted and the secrets as one Fernet token. A journal
copied off the disk then holds no camera password. If the token changed since (a new enrolment),
the sealed part cannot be opened: the record is still finalised and reported, and a resumed
recording reconnects with the redacted URL until it is started again. The file is also created
0600 before SQLite opens it; SQLite gives its `-wal` and `-shm` files the database file's
permissions.

The API is synchronous and meant to be called on the event loop: in WAL mode with
`synchronous=NORMAL` a commit is an append to the WAL without fsync (well under a millisecond), and
writes happen only on state changes (start, new part, gap, stop), never per frame. Moving them to
`asyncio.to_thread` would cost more than the write and let two writes on one connection race.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.fernet import Fernet, InvalidToken

from agent.cameras.spec import CameraSpec
from agent.files.layout import JOURNAL_NAME
from shared.enums import GapReason, RecordStatus
from shared.redact import redact_url

__all__ = ["JOURNAL_NAME", "Gap", "Journal", "RecordRow", "journal_key"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    tag_name TEXT NOT NULL,
    source_id INTEGER NOT NULL,
    spec TEXT NOT NULL,           -- JSON: CameraSpec fields + ffmpeg_cmd (credentials sealed)
    status TEXT NOT NULL,
    begin_unix REAL NOT NULL,
    end_unix REAL,
    final_path TEXT,
    parts TEXT NOT NULL,          -- JSON list of part file paths, oldest first
    gaps TEXT NOT NULL,           -- JSON list of [start_unix, end_unix, reason, detail]
    hash_md5 TEXT,
    size_bytes INTEGER,
    duration_s REAL,
    error TEXT,
    updated_unix REAL NOT NULL,
    bases TEXT NOT NULL DEFAULT '{}',  -- JSON: later part -> fragments in the record's file before it
    trims TEXT NOT NULL DEFAULT '{}'   -- JSON: later part -> seconds at its head recorded already
)
"""
_COLUMNS = (
    "id, tag_name, source_id, spec, status, begin_unix, end_unix, final_path, parts, gaps, "
    "hash_md5, size_bytes, duration_s, error, updated_unix, bases, trims"
)


class Gap(NamedTuple):
    """A time with no video in a record, and why: kept with the gap, so the cause of every hole is
    known whenever the control plane hears of it (the record's error says only the last one)."""

    start: float
    end: float
    reason: GapReason
    detail: str = ""  # in the camera's or the agent's words, redacted and clipped


@dataclass
class RecordRow:
    """One record as the journal keeps it; the Recording that owns it mutates it and saves it."""

    record_id: str
    tag_name: str
    spec: CameraSpec
    ffmpeg_cmd: str | None
    status: RecordStatus
    begin_unix: float
    final_path: str
    end_unix: float | None = None
    parts: list[str] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    hash_md5: str | None = None
    size_bytes: int | None = None
    duration_s: float | None = None
    error: str | None = None
    updated_unix: float = 0.0
    # A later part whose fragments are appended to the record's file: how many fragments the file
    # held before its first one (so an agent restart knows how many of them are in it already).
    bases: dict[str, int] = field(default_factory=dict)
    # A later part that began before the last one ended (the new ffmpeg opened the camera while a
    # dead agent's ffmpeg still recorded it): the seconds at its head that the record holds already.
    trims: dict[str, float] = field(default_factory=dict)

    @property
    def source_id(self) -> int:
        return self.spec.source_id


class Journal:
    """The records table of `<storage_root>/journal.sqlite3`."""

    def __init__(self, storage_root: Path, key: bytes | None = None) -> None:
        """`key`: seals the camera credentials (`journal_key`); None keeps them plain (an agent
        without a token, on loopback)."""
        self._fernet = Fernet(key) if key is not None else None
        self.path = storage_root / JOURNAL_NAME
        storage_root.mkdir(parents=True, exist_ok=True)
        # Create it private before SQLite does (SQLite would use the umask, usually 0644).
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(self.path, 0o600)  # an existing file made by an older version, or another umask
        self._db = sqlite3.connect(self.path, isolation_level=None)  # autocommit: one statement each
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(records)")}
        if "bases" not in columns:  # a journal written before records were one growing file
            self._db.execute("ALTER TABLE records ADD COLUMN bases TEXT NOT NULL DEFAULT '{}'")
        if "trims" not in columns:  # a journal written before an orphan's handover overlapped
            self._db.execute("ALTER TABLE records ADD COLUMN trims TEXT NOT NULL DEFAULT '{}'")

    def close(self) -> None:
        self._db.close()

    def save(self, row: RecordRow) -> None:
        """Insert or replace the row; sets `updated_unix` to now, so `list(changed_since)` sees it."""
        row.updated_unix = time.time()
        spec = dataclasses.asdict(row.spec) | {"ffmpeg_cmd": row.ffmpeg_cmd}
        if self._fernet is not None:
            spec = _sealed(spec, self._fernet)
        values = (
            row.record_id,
            row.tag_name,
            row.source_id,
            json.dumps(spec),
            row.status.value,
            row.begin_unix,
            row.end_unix,
            row.final_path,
            json.dumps(row.parts),
            json.dumps(row.gaps),
            row.hash_md5,
            row.size_bytes,
            row.duration_s,
            row.error,
            row.updated_unix,
            json.dumps(row.bases),
            json.dumps(row.trims),
        )
        placeholders = ", ".join("?" * len(values))
        try:
            self._db.execute(f"INSERT OR REPLACE INTO records ({_COLUMNS}) VALUES ({placeholders})", values)  # noqa: S608 - constants only
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_FULL:
                raise
            # A disk filled by something else: the record goes on in memory (the heartbeat reports
            # it from there) and its next change writes the whole row again.
            log.error("journal: disk full, record %s kept in memory until it can be written", row.record_id)

    def load_all(self) -> list[RecordRow]:
        cursor = self._db.execute(f"SELECT {_COLUMNS} FROM records ORDER BY begin_unix")  # noqa: S608
        return [_row(values, self._fernet) for values in cursor.fetchall()]


def journal_key(agent_token: str) -> bytes:
    """The journal's sealing key, derived from the agent's token (never stored)."""
    return base64.urlsafe_b64encode(hashlib.sha256(b"videorec-journal:" + agent_token.encode()).digest())


_SECRET_FIELDS = ("rtsp_url", "picture_url", "picture_password")


def _sealed(spec: dict[str, Any], fernet: Fernet) -> dict[str, Any]:
    secrets = {name: spec[name] for name in _SECRET_FIELDS if spec.get(name) is not None}
    public = spec | {name: redact_url(spec[name]) for name in ("rtsp_url", "picture_url") if spec.get(name)}
    public["picture_password"] = None
    return public | {"sealed": fernet.encrypt(json.dumps(secrets).encode()).decode()}


def _opened(spec: dict[str, Any], fernet: Fernet | None, record_id: str) -> dict[str, Any]:
    sealed = spec.pop("sealed", None)
    if sealed is None:
        return spec  # written plain (no key then)
    try:
        if fernet is None:
            raise InvalidToken
        return spec | json.loads(fernet.decrypt(sealed.encode()))
    except InvalidToken:
        log.warning("journal: the credentials of record %s were sealed with another token", record_id)
        return spec


def _row(values: tuple[Any, ...], fernet: Fernet | None = None) -> RecordRow:
    (
        rid,
        tag,
        _source_id,
        spec_json,
        status,
        begin,
        end,
        final,
        parts,
        gaps,
        md5,
        size,
        dur,
        err,
        upd,
        bases,
        trims,
    ) = values
    spec_fields = _opened(json.loads(spec_json), fernet, rid)
    ffmpeg_cmd = spec_fields.pop("ffmpeg_cmd", None)
    return RecordRow(
        record_id=rid,
        tag_name=tag,
        spec=CameraSpec(**spec_fields),
        ffmpeg_cmd=ffmpeg_cmd,
        status=RecordStatus(status),
        begin_unix=begin,
        final_path=final,
        end_unix=end,
        parts=list(json.loads(parts)),
        gaps=[_gap(g) for g in json.loads(gaps)],
        hash_md5=md5,
        size_bytes=size,
        duration_s=dur,
        error=err,
        updated_unix=upd,
        bases={str(k): int(v) for k, v in json.loads(bases).items()},
        trims={str(k): float(v) for k, v in json.loads(trims).items()},
    )


def _gap(item: list[Any]) -> Gap:
    # [start, end] from an agent two releases back (its gaps were the camera's), [start, end, reason]
    # from the previous release (no cause kept).
    reason = GapReason(item[2]) if len(item) > 2 else GapReason.CAMERA
    return Gap(float(item[0]), float(item[1]), reason, str(item[3]) if len(item) > 3 else "")
