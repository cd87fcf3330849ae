"""A pull's file, which outlives the agent: `<name>.<md5>.resume` beside the copy's final name. The
next pull of the same copy (same MD5) re-hashes what is there from the local disk and fetches only
the rest (agent.files.pull). A `flock` on it keeps a second pull of that copy out while one runs;
one untouched for `RESUME_KEEP_S` is removed when the store opens."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from agent.errors import CopyBusyError, CopyMismatchError
from agent.files.copies.durable import flush, fsync_dir, write_chunk
from agent.files.copies.model import CopyHeader, CopyInfo
from agent.files.copies.paths import DEFAULT_EXT, resume_path
from agent.files.copies.store import CopyStore
from agent.files.copies.verify import check_complete, checked_md5

HASH_READ = 4 * 1024 * 1024  # what a resumed pull re-reads at a time to hash what is already there


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
        await asyncio.to_thread(write_chunk, self.file, self.md5, data)
        self.offset += len(data)

    async def restart(self) -> None:
        """Drop what is there (the source no longer matches it) and write from byte 0."""
        await asyncio.to_thread(self.file.truncate, 0)
        self.file.seek(0)
        self.offset = self.resumed_from = 0
        self.md5 = hashlib.md5(usedforsecurity=False)


@contextlib.asynccontextmanager
async def resumable(
    store: CopyStore, header: CopyHeader, ext: str = DEFAULT_EXT
) -> AsyncIterator[ResumableCopy]:
    """The `.resume` file of the copy `header` announces, locked, with what it already holds hashed
    (a file longer than the copy is emptied). Raises FileAccessError (bad path, id or MD5) and
    CopyBusyError (another pull of this copy runs). The file stays when the block ends: `keep`
    turns it into the copy, or a later pull resumes it."""
    target = store.dir.target(header.record_id, header.path, ext)
    expected = checked_md5(header)
    store.dir.make_parent(target)
    path = resume_path(target, expected)
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


async def keep(store: CopyStore, copy: ResumableCopy) -> CopyInfo:
    """Verify a pulled copy, make it the copy (fsynced, renamed, registered) and return it; a copy
    whose size or MD5 differs is removed (CopyMismatchError), so the next pull starts over."""
    try:
        check_complete(copy.header, copy.offset, copy.md5.hexdigest(), "pulled")
    except CopyMismatchError:
        copy.path.unlink(missing_ok=True)
        raise
    await asyncio.to_thread(flush, copy.file)
    copy.path.replace(copy.target)
    fsync_dir(copy.target.parent)
    return store.register(copy.header, copy.target, copy.header.hash_md5.lower())


def _hash_prefix(f: IO[bytes], md5: Any, length: int) -> None:
    f.seek(0)
    left = length
    while left:
        data = f.read(min(HASH_READ, left))
        if not data:
            raise OSError("the resume file shrank while it was hashed")
        md5.update(data)
        left -= len(data)
