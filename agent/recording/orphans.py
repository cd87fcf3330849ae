"""ffmpeg processes left running by an agent that died: found by the part file they write.

Recording ffmpegs run in their own session, so a SIGKILLed agent leaves them recording. The
restarted agent must not record the same camera twice into overlapping parts: it lets each orphan
finish its fragment (SIGTERM), keeps what it wrote, and carries on in a new part."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)


def writers_of(paths: list[Path]) -> list[int]:
    """Pids whose command line names one of `paths` (ffmpeg's output is its last argument)."""
    wanted = {os.fsencode(str(p)) for p in paths}
    if not wanted:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        if wanted.intersection(args):
            found.append(int(entry))
    return found


async def stop_orphans(paths: list[Path], grace_s: float = 5.0) -> list[int]:
    pids = writers_of(paths)
    for pid in pids:
        log.warning("stopping ffmpeg %s left recording by the previous agent", pid)
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    # Not our children: there is no exit to wait on, only /proc to poll.
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    return pids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            # A zombie has finished writing: its parent (init, after our death) will reap it.
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
