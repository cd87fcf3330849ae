"""How much of the storage disk the agent keeps free: the reserve below which records pause (the
journal and the last fragments of a stop always have room), and the free bytes now."""

from __future__ import annotations

import shutil
from pathlib import Path

_DEFAULT_MAX = 1 << 30  # 1 GiB ...
_DEFAULT_SHARE = 0.05  # ... or 5 % of the disk, whichever is smaller (a small disk keeps most of itself)


def reserve_bytes(root: Path, configured: int | None) -> int:
    """`configured` if set, else min(1 GiB, 5 % of the disk that holds `root`)."""
    if configured is not None:
        return configured
    return min(_DEFAULT_MAX, int(shutil.disk_usage(root).total * _DEFAULT_SHARE))


def free_bytes(root: Path) -> int:
    """Free bytes for the agent now (one statvfs: microseconds, fine on the event loop)."""
    return shutil.disk_usage(root).free
