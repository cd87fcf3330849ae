"""A copy streamed to this agent over gRPC (the fallback when it cannot pull): always written from
byte 0 to a uniquely named `*.partial` file, never reused, so a header with a non-zero
`resume_offset` is refused rather than silently producing a file without its prefix."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

from agent.errors import CopyMismatchError, CopyResumeError
from agent.files.copies.durable import flush, fsync_dir, write_chunk
from agent.files.copies.model import CopyHeader, CopyInfo
from agent.files.copies.paths import DEFAULT_EXT, partial_path
from agent.files.copies.store import CopyStore
from agent.files.copies.verify import check_complete, checked_md5


async def receive(
    store: CopyStore, header: CopyHeader, chunks: AsyncIterator[bytes], ext: str = DEFAULT_EXT
) -> CopyInfo:
    """Write the streamed bytes as the copy `header` announces, verify, register, return it.

    A copy of that record with the same MD5 already at that place is returned as it is (the
    stream is consumed, nothing is rewritten). Raises FileAccessError (bad path or id),
    CopyResumeError (resume_offset != 0), CopyMismatchError (size or MD5 differ)."""
    target = store.dir.target(header.record_id, header.path, ext)
    expected = checked_md5(header)
    if header.resume_offset != 0:
        raise CopyResumeError(
            f"resume from byte {header.resume_offset} is not supported: send the file from byte 0"
        )
    existing = store.already_kept(header, ext)
    if existing is not None:
        async for _ in chunks:  # the caller may still be sending: drain, keep the verified file
            pass
        return existing

    store.dir.make_parent(target)
    partial = partial_path(target)
    try:
        await _write(partial, header, chunks)
        partial.replace(target)  # atomic: readers see the old copy or the new one, never half
    except BaseException:
        partial.unlink(missing_ok=True)  # also on cancel: a broken stream leaves nothing
        raise
    fsync_dir(target.parent)
    return store.register(header, target, expected)


async def _write(partial: Path, header: CopyHeader, chunks: AsyncIterator[bytes]) -> None:
    md5 = hashlib.md5(usedforsecurity=False)
    received = 0
    with partial.open("xb") as f:  # noqa: ASYNC230 - open is instant; writes go to a thread
        async for data in chunks:
            received += len(data)
            if received > header.size:  # stop before a runaway sender fills the disk
                raise CopyMismatchError(
                    f"record {header.record_id}: more than the announced {header.size} bytes received"
                )
            await asyncio.to_thread(write_chunk, f, md5, data)
        check_complete(header, received, md5.hexdigest(), "received")
        await asyncio.to_thread(flush, f)
