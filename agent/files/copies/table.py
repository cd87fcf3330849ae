"""The `copies` table of the agent's journal database: one row per verified copy kept."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from agent.files.copies.model import CopyInfo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS copies (
    record_id TEXT NOT NULL,
    location TEXT NOT NULL,       -- "<agent_name>:<path under the storage root>" (older: absolute)
    hash_md5 TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_unix REAL NOT NULL,
    PRIMARY KEY (record_id, location)
)
"""


class CopyTable:
    """The rows, keyed by `(record_id, location)`; `close()` when done."""

    def __init__(self, db_path: Path) -> None:
        # The journal holds camera credentials: create it private, as agent.journal does, in case
        # the store opens the file first.
        os.close(os.open(db_path, os.O_RDWR | os.O_CREAT, 0o600))
        self._root = Path(db_path).absolute().parent  # the storage root: locations are relative to it
        self._db = sqlite3.connect(db_path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def put(self, info: CopyInfo) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO copies (record_id, location, hash_md5, size, created_unix) "
            "VALUES (?, ?, ?, ?, ?)",
            (info.record_id, info.location, info.hash_md5, info.size, info.created_unix),
        )

    def get(self, record_id: str, location: str) -> CopyInfo | None:
        cursor = self._db.execute(
            "SELECT record_id, location, hash_md5, size, created_unix FROM copies "
            "WHERE record_id = ? AND location = ?",
            (record_id, location),
        )
        values: tuple[Any, ...] | None = cursor.fetchone()
        if values is None:
            return None
        rid, loc, md5, size, created = values
        _agent, _sep, text = loc.partition(":")
        return CopyInfo(rid, loc, self._root / text, md5, size, created)  # an absolute text stays itself

    def remove(self, record_id: str, location: str) -> None:
        self._db.execute("DELETE FROM copies WHERE record_id = ? AND location = ?", (record_id, location))
