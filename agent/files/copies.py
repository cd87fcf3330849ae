"""Copies of other agents' records received by sync: where they are kept, how a stream becomes a
verified file, and which copy a `(record_id, location)` names. Owns `<storage_root>/sync/` and the
`copies` table of the agent's journal database.

Layout: `<storage_root>/sync/<path>/<record_id><ext>`, `path` being the caller's relative directory
(`agent://NAME/PATH` of the sync destination). A copy is written to a uniquely named `*.partial`
file beside its final name, hashed while it is written, fsynced, and renamed into place only when
its size and MD5 equal the header's; a copy that fails verification leaves nothing behind.

Two ways in. `receive` (bytes streamed to the agent over gRPC, the fallback) always writes from byte
0: a header with a non-zero `resume_offset` is refused (`CopyResumeError`) rather than silently
producing a file without its prefix, its `*.partial` files are never reused, and those left by a
crash are removed when the store opens. A pull (agent.files.pull fetches from the source agent)
writes `<name>.<md5>.resume` instead, which outlives the agent: the next pull of the same copy
(same MD5) re-hashes what is there from the local disk and fetches only the rest. A `flock` on it
keeps a second pull of that copy out while one runs; one untouched for `RESUME_KEEP_S` is removed
when the store opens.

Like `agent.journal`, the SQLite calls are synchronous on the event loop: one small write per copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import re
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from agent.errors import FileAccessError, UnknownRecordError
from agent.files.layout import JOURNAL_NAME, check_record_id

log = logging.getLogger(__name__)

SYNC_DIR = "sync"
DEFAULT_EXT = ".mp4"
PARTIAL_SUFFIX = ".partial"
RESUME_SUFFIX = ".resume"
RESUME_KEEP_S = 7 * 86400  # a pull not resumed for this long is not coming back: its bytes go
HASH_READ = 4 * 1024 * 1024  # what a resumed pull re-reads at a time to hash what is already there

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


class CopyBusyError(Exception):
    """Another pull of the same copy is running; try again once it has ended."""


@dataclass
class ResumableCopy:
    """A pull's `.resume` file, open and locked: `offset` bytes are in it and in `md5`."""

    header: CopyHeader
    target: Path
    path: Path
    file: IO[bytes]
    offset: int
    resumed_from: int  # what an earlier pull had left, not fetched again
    md5: Any = field(repr=False)

    async def write(self, data: bytes | bytearray) -> None:
        if self.offset + len(data) > self.header.size:  # stop before a runaway source fills the disk
            raise CopyMismatchError(
                f"record {self.header.record_id}: more than the announced {self.header.size} bytes"
            )
        await asyncio.to_thread(_write_chunk, self.file, self.md5, data)
        self.offset += len(data)

    async def restart(self) -> None:
        """Drop what is there (the source no longer matches it) and write from byte 0."""
        await asyncio.to_thread(self.file.truncate, 0)
        self.file.seek(0)
        self.offset = self.resumed_from = 0
        self.md5 = hashlib.md5(usedforsecurity=False)


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
        expected = _checked_md5(header)
        if header.resume_offset != 0:
            raise CopyResumeError(
                f"resume from byte {header.resume_offset} is not supported: send the file from byte 0"
            )
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
        return self._register(header, target, expected)

    def _register(self, header: CopyHeader, target: Path, md5: str) -> CopyInfo:
        info = CopyInfo(header.record_id, self._location(target), target, md5, header.size, time.time())
        self._db.execute(
            "INSERT OR REPLACE INTO copies (record_id, location, hash_md5, size, created_unix) "
            "VALUES (?, ?, ?, ?, ?)",
            (info.record_id, info.location, info.hash_md5, info.size, info.created_unix),
        )
        log.info("copy of record %s kept at %s (%d bytes)", header.record_id, target, header.size)
        return info

    @contextlib.asynccontextmanager
    async def resumable(self, header: CopyHeader, ext: str = DEFAULT_EXT) -> AsyncIterator[ResumableCopy]:
        """The `.resume` file of the copy `header` announces, locked, with what it already holds hashed
        (a file longer than the copy is emptied). Raises FileAccessError (bad path, id or MD5) and
        CopyBusyError (another pull of this copy runs). The file stays when the block ends: `keep`
        turns it into the copy, or a later pull resumes it."""
        target = self.target(header.record_id, header.path, ext)
        expected = _checked_md5(header)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._check_inside(target.parent)  # a symlinked directory created meanwhile
        path = target.with_name(f"{target.name}.{expected}{RESUME_SUFFIX}")
        # O_NOFOLLOW: a link planted at that name is refused, never followed out of the sync root.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o640)
        f = os.fdopen(fd, "r+b")
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CopyBusyError(f"record {header.record_id} is already being pulled here") from None
            md5 = hashlib.md5(usedforsecurity=False)
            offset = os.fstat(fd).st_size
            if offset > header.size:
                f.truncate(0)
                offset = 0
            elif offset:
                await asyncio.to_thread(_hash_prefix, f, md5, offset)
            f.seek(offset)
            copy = ResumableCopy(header, target, path, f, offset, offset, md5)
            try:
                yield copy
            finally:
                if copy.offset == 0 and path.exists() and os.fstat(fd).st_size == 0:
                    path.unlink()  # a pull refused before its first byte leaves nothing behind
        finally:
            f.close()  # releases the lock

    async def keep(self, copy: ResumableCopy) -> CopyInfo:
        """Verify a pulled copy, make it the copy (fsynced, renamed, registered) and return it; a copy
        whose size or MD5 differs is removed (CopyMismatchError), so the next pull starts over."""
        header, expected = copy.header, copy.header.hash_md5.lower()
        actual = copy.md5.hexdigest()
        if copy.offset != header.size or actual != expected:
            copy.path.unlink(missing_ok=True)
            raise CopyMismatchError(
                f"record {header.record_id}: pulled {copy.offset} bytes with MD5 {actual}, "
                f"expected {header.size} bytes with MD5 {expected}"
            )
        await asyncio.to_thread(_flush, copy.file)
        copy.path.replace(copy.target)
        _fsync_dir(copy.target.parent)
        return self._register(header, copy.target, expected)

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
        # A pull's resume file is kept for the next pull of that copy, but not for ever.
        too_old = time.time() - RESUME_KEEP_S
        for resume in self._sync.rglob(f"*{RESUME_SUFFIX}"):
            if resume.is_file() and not resume.is_symlink() and resume.stat().st_mtime < too_old:
                resume.unlink(missing_ok=True)


def _checked_md5(header: CopyHeader) -> str:
    """The header's MD5 in lower case; FileAccessError for a header that cannot name a copy."""
    expected = header.hash_md5.lower()
    if not _MD5.fullmatch(expected):
        raise FileAccessError(f"hash_md5 {header.hash_md5[:40]!r} is not 32 hex digits")
    if header.size < 0:
        raise FileAccessError(f"size {header.size} is negative")
    return expected


def _hash_prefix(f: IO[bytes], md5: Any, length: int) -> None:
    f.seek(0)
    left = length
    while left:
        data = f.read(min(HASH_READ, left))
        if not data:
            raise OSError("the resume file shrank while it was hashed")
        md5.update(data)
        left -= len(data)


def _relative_dir(path: str) -> Path:
    """`path` as a relative directory of plain segments; FileAccessError for anything else."""
    if path.startswith("/") or "\\" in path or "\x00" in path:
        raise FileAccessError(f"sync path {path[:80]!r} must be relative")
    segments = [s for s in path.split("/") if s]
    for segment in segments:
        if not _SEGMENT.fullmatch(segment) or set(segment) == {"."}:
            raise FileAccessError(f"sync path {path[:80]!r}: segment {segment[:40]!r} is not allowed")
    return Path(*segments)


def _write_chunk(f: IO[bytes], md5: Any, data: bytes | bytearray) -> None:
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
