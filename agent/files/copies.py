"""Copies of other agents' records received by sync: where they are kept, how a stream becomes a
verified file, and which copy a `(record_id, location)` names. Owns `<storage_root>/sync/` and the
`copies` table of the agent's journal database.

Layout: `<storage_root>/sync/<path>/<record_id><ext>`, `path` being the caller's relative directory
(`agent://NAME/PATH` of the sync destination). A copy is written to a uniquely named `*.partial`
file beside its final name, hashed while it is written, fsynced, and renamed into place only when
its size and MD5 equal the header's; a copy that fails verification leaves nothing behind.

Resume: not supported. Every `receive` writes the file from byte 0; a header with a non-zero
`resume_offset` is refused (`CopyResumeError`) rather than silently producing a file without its
prefix. `*.partial` files are therefore never reused, and those left by a crash are removed when
the store opens.

Like `agent.journal`, the SQLite calls are synchronous on the event loop: one small write per copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agent.errors import FileAccessError, UnknownRecordError
from agent.files.layout import JOURNAL_NAME, check_record_id

log = logging.getLogger(__name__)

SYNC_DIR = "sync"
DEFAULT_EXT = ".mp4"
PARTIAL_SUFFIX = ".partial"

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_EXT = re.compile(r"\.[A-Za-z0-9]{1,8}")
_MD5 = re.compile(r"[0-9a-f]{32}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS copies (
    record_id TEXT NOT NULL,
    location TEXT NOT NULL,       -- "<agent_name>:<absolute path>"
    hash_md5 TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_unix REAL NOT NULL,
    PRIMARY KEY (record_id, location)
)
"""


@dataclass(frozen=True)
class CopyHeader:
    """What the sender announces before the bytes (mirrors `WriteFileHeader`)."""

    record_id: str
    path: str  # directory relative to the sync root; "" for the sync root itself
    size: int
    hash_md5: str
    resume_offset: int = 0


@dataclass(frozen=True)
class CopyInfo:
    """One verified copy kept by this agent."""

    record_id: str
    location: str  # "<agent_name>:<absolute path>"
    path: Path
    hash_md5: str
    size: int
    created_unix: float


class CopyMismatchError(Exception):
    """The received bytes are not what the header announced (size or MD5); nothing was kept."""


class CopyResumeError(Exception):
    """A byte-offset resume was asked for; this store always restarts a copy from byte 0."""


class CopyStore:
    """The copies this agent holds; `close()` when done."""

    def __init__(self, storage_root: Path, agent_name: str) -> None:
        self._root = Path(storage_root).absolute()
        self._sync = self._root / SYNC_DIR
        self._agent = agent_name
        self._sync.mkdir(parents=True, exist_ok=True)
        db_path = self._root / JOURNAL_NAME
        # The journal holds camera credentials: create it private, as agent.journal does, in case
        # the store opens the file first.
        os.close(os.open(db_path, os.O_RDWR | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(db_path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._remove_stale_partials()

    def close(self) -> None:
        self._db.close()

    @property
    def sync_root(self) -> Path:
        return self._sync

    # -- queries -----------------------------------------------------------------------------------

    def find(self, record_id: str, path: str, ext: str = DEFAULT_EXT) -> CopyInfo | None:
        """The copy of `record_id` kept in directory `path`, if it is registered and still on disk
        with its registered size (not re-hashed: the file was verified when it was written)."""
        target = self.target(record_id, path, ext)
        return self._existing(record_id, self._location(target))

    def already_kept(self, header: CopyHeader, ext: str = DEFAULT_EXT) -> CopyInfo | None:
        """The copy `header` announces if it is already kept with that size and MD5 (a retried sync)."""
        existing = self.find(header.record_id, header.path, ext)
        if (
            existing is not None
            and existing.hash_md5 == header.hash_md5.lower()
            and existing.size == header.size
        ):
            return existing
        return None

    def resolve(self, record_id: str, location: str) -> CopyInfo:
        """The registered copy of `record_id` at `location`; UnknownRecordError if there is none."""
        info = self._row(record_id, location)
        if info is None:
            raise UnknownRecordError(record_id)
        self._check_inside(info.path)
        return info

    def target(self, record_id: str, path: str, ext: str = DEFAULT_EXT) -> Path:
        """The final path of a copy; FileAccessError for a path or id that could leave the sync root."""
        try:
            check_record_id(record_id)
        except ValueError as exc:
            raise FileAccessError(str(exc)) from None
        if not _EXT.fullmatch(ext):
            raise FileAccessError(f"extension {ext[:20]!r} is not a plain .[A-Za-z0-9] suffix")
        directory = self._sync / _relative_dir(path)
        target = directory / f"{record_id}{ext}"
        self._check_inside(target)
        return target

    # -- changes -----------------------------------------------------------------------------------

    async def receive(
        self, header: CopyHeader, chunks: AsyncIterator[bytes], ext: str = DEFAULT_EXT
    ) -> CopyInfo:
        """Write the streamed bytes as the copy `header` announces, verify, register, return it.

        A copy of that record with the same MD5 already at that place is returned as it is (the
        stream is consumed, nothing is rewritten). Raises FileAccessError (bad path or id),
        CopyResumeError (resume_offset != 0), CopyMismatchError (size or MD5 differ)."""
        target = self.target(header.record_id, header.path, ext)
        expected = header.hash_md5.lower()
        if not _MD5.fullmatch(expected):
            raise FileAccessError(f"hash_md5 {header.hash_md5[:40]!r} is not 32 hex digits")
        if header.size < 0:
            raise FileAccessError(f"size {header.size} is negative")
        if header.resume_offset != 0:
            raise CopyResumeError(
                f"resume from byte {header.resume_offset} is not supported: send the file from byte 0"
            )
        location = self._location(target)
        existing = self.already_kept(header, ext)
        if existing is not None:
            async for _ in chunks:  # the caller may still be sending: drain, keep the verified file
                pass
            return existing

        target.parent.mkdir(parents=True, exist_ok=True)
        self._check_inside(target.parent)  # a symlinked directory created meanwhile
        # Unique per call: two concurrent receives of the same copy never write one file.
        partial = target.with_name(f"{target.name}.{uuid.uuid4().hex[:12]}{PARTIAL_SUFFIX}")
        try:
            await self._write(partial, header, chunks, expected)
            partial.replace(target)  # atomic: readers see the old copy or the new one, never half
        except BaseException:
            partial.unlink(missing_ok=True)  # also on cancel: a broken stream leaves nothing
            raise
        _fsync_dir(target.parent)
        info = CopyInfo(header.record_id, location, target, expected, header.size, time.time())
        self._db.execute(
            "INSERT OR REPLACE INTO copies (record_id, location, hash_md5, size, created_unix) "
            "VALUES (?, ?, ?, ?, ?)",
            (info.record_id, info.location, info.hash_md5, info.size, info.created_unix),
        )
        log.info("copy of record %s kept at %s (%d bytes)", header.record_id, target, header.size)
        return info

    async def delete(self, record_id: str, location: str) -> None:
        """Remove the copy's file and its row; UnknownRecordError if it is not a registered copy."""
        info = self._row(record_id, location)
        if info is None:
            raise UnknownRecordError(record_id)
        if info.path.exists() or info.path.is_symlink():
            self._check_inside(info.path.parent)
            info.path.unlink()  # the name itself, never a link's target
        self._db.execute("DELETE FROM copies WHERE record_id = ? AND location = ?", (record_id, location))
        log.info("copy of record %s at %s deleted", record_id, info.path)

    # -- internals ---------------------------------------------------------------------------------

    async def _write(
        self, partial: Path, header: CopyHeader, chunks: AsyncIterator[bytes], expected: str
    ) -> None:
        md5 = hashlib.md5(usedforsecurity=False)
        received = 0
        with partial.open("xb") as f:  # noqa: ASYNC230 - open is instant; writes go to a thread
            async for data in chunks:
                received += len(data)
                if received > header.size:  # stop before a runaway sender fills the disk
                    raise CopyMismatchError(
                        f"record {header.record_id}: more than the announced {header.size} bytes received"
                    )
                await asyncio.to_thread(_write_chunk, f, md5, data)
            actual = md5.hexdigest()
            if received != header.size or actual != expected:
                raise CopyMismatchError(
                    f"record {header.record_id}: received {received} bytes with MD5 {actual}, "
                    f"expected {header.size} bytes with MD5 {expected}"
                )
            await asyncio.to_thread(_flush, f)

    def _existing(self, record_id: str, location: str) -> CopyInfo | None:
        info = self._row(record_id, location)
        if info is None:
            return None
        try:
            if info.path.stat().st_size == info.size:
                return info
        except OSError:
            pass
        return None

    def _row(self, record_id: str, location: str) -> CopyInfo | None:
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
        return CopyInfo(rid, loc, Path(text), md5, size, created)

    def _location(self, path: Path) -> str:
        return f"{self._agent}:{path}"

    def _check_inside(self, path: Path) -> None:
        """`path` with symlinks followed must stay under the sync root (a link must not lead out)."""
        if not path.resolve().is_relative_to(self._sync.resolve()):
            raise FileAccessError(f"{path} is not inside the sync directory")

    def _remove_stale_partials(self) -> None:
        # Nothing resumes from a partial (see the module docstring): whatever exists is a leftover.
        for partial in self._sync.rglob(f"*{PARTIAL_SUFFIX}"):
            if partial.is_file() and not partial.is_symlink():
                partial.unlink(missing_ok=True)


def _relative_dir(path: str) -> Path:
    """`path` as a relative directory of plain segments; FileAccessError for anything else."""
    if path.startswith("/") or "\\" in path or "\x00" in path:
        raise FileAccessError(f"sync path {path[:80]!r} must be relative")
    segments = [s for s in path.split("/") if s]
    for segment in segments:
        if not _SEGMENT.fullmatch(segment) or set(segment) == {"."}:
            raise FileAccessError(f"sync path {path[:80]!r}: segment {segment[:40]!r} is not allowed")
    return Path(*segments)


def _write_chunk(f: IO[bytes], md5: Any, data: bytes) -> None:
    f.write(data)
    md5.update(data)  # hashlib releases the GIL on large buffers: done in the same worker thread


def _flush(f: IO[bytes]) -> None:
    f.flush()
    os.fsync(f.fileno())  # the bytes are on disk before the rename makes them the copy


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself (the directory entry), so a crash cannot lose a registered copy."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
