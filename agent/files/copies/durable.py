"""How a copy's bytes reach the disk for good: hashed as they are written, fsynced before the rename
that makes them the copy, and the rename itself fsynced."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any


def write_chunk(f: IO[bytes], md5: Any, data: bytes | bytearray) -> None:
    f.write(data)
    md5.update(data)  # hashlib releases the GIL on large buffers: done in the same worker thread


def flush(f: IO[bytes]) -> None:
    f.flush()
    os.fsync(f.fileno())  # the bytes are on disk before the rename makes them the copy


def fsync_dir(directory: Path) -> None:
    """Persist the rename itself (the directory entry), so a crash cannot lose a registered copy."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
