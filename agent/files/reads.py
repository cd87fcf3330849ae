"""Serving a record's file bytes: ranges read in chunks, never the whole file in memory."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

DEFAULT_CHUNK = 1024 * 1024
MAX_CHUNK = 4 * 1024 * 1024


def _read(path: Path, offset: int, size: int) -> bytes:
    # O_NOFOLLOW: a file swapped for a link after it was checked is refused, not followed.
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
        f.seek(offset)
        return f.read(size)


async def read_range(
    path: Path, offset: int, length: int, chunk_size: int
) -> AsyncIterator[tuple[int, bytes]]:
    """Yield (offset, bytes) from `offset` for `length` bytes (0: to the end as the file is now).

    Each chunk is read in a worker thread so a slow disk never stalls the agent's event loop."""
    chunk = min(chunk_size or DEFAULT_CHUNK, MAX_CHUNK)
    end = offset + length if length > 0 else path.stat().st_size  # noqa: ASYNC240 - one stat, microseconds
    position = offset
    while position < end:
        data = await asyncio.to_thread(_read, path, position, min(chunk, end - position))
        if not data:
            return  # the file is shorter than asked (it was being written): the caller sees the count
        yield position, data
        position += len(data)
