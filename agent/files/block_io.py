"""Two block-level writes the record's file needs: a whole buffer written through a raw descriptor,
and the disk blocks of a fragment already taken in freed from the part it came from."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import cast

from agent.files.fmp4 import Box


def write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return len(data)


_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
_BLOCK = 4096


def _load_fallocate() -> Callable[[int, int, int, int], int] | None:
    try:
        fallocate = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):  # not Linux: a part keeps its copy until it is removed
        return None
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    return cast(Callable[[int, int, int, int], int], fallocate)


_fallocate = _load_fallocate()


def punch_out(fd: int, mdat: Box) -> None:
    """Free the disk blocks of a fragment's media once it is in the record's file, so that taking
    a part in never needs the part's size twice (its box headers stay: a restarted agent reads
    them to find where it left off). Where the file system cannot, the space returns when the
    part is removed."""
    if _fallocate is None:
        return
    start = -(-(mdat.offset + mdat.header) // _BLOCK) * _BLOCK  # past the mdat header, whole blocks only
    end = (mdat.end // _BLOCK) * _BLOCK
    if end > start:
        _fallocate(fd, _FALLOC_FL_KEEP_SIZE | _FALLOC_FL_PUNCH_HOLE, start, end - start)
