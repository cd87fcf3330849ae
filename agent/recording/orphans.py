"""ffmpeg processes left running by an agent that died: found by the part file they write (or the
record's file, which an ffmpeg that continues it in place writes through an inherited descriptor).

Recording ffmpegs run in their own session, so a SIGKILLed agent leaves them recording. The
restarted agent must not record the same camera twice into overlapping parts, nor lose the seconds a
new ffmpeg needs to open the camera (~2 s, far more on a busy host): make before break. The new
ffmpeg connects first; once it has opened the camera, each orphan finishes its fragment (SIGTERM)
and exits; only then may the new part's video count (`Handover.done`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from agent.ffmpeg.tee import written_paths

log = logging.getLogger(__name__)


def writers_of(paths: list[Path]) -> list[int]:
    """Pids of the ffmpegs writing one of `paths` (their last argument, or a slave of their tee)."""
    wanted = {str(p) for p in paths}
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
        written = written_paths([os.fsdecode(arg) for arg in args[:-1]])
        if wanted.intersection(_resolved(entry, path) for path in written):
            found.append(int(entry))
    return found


def _resolved(pid: str, path: str) -> str:
    """`pipe:N` (an ffmpeg continuing the record's file in place) as the file its descriptor N is."""
    number = path.removeprefix("pipe:")
    if number == path or not number.isdigit():
        return path
    try:
        return os.readlink(f"/proc/{pid}/fd/{number}")
    except OSError:
        return path


class Handover:
    """From the orphans `pids` to the resumed record's new ffmpeg. `complete()` is called when the
    new ffmpeg has opened the camera, or when its first run ends without (whichever comes first;
    later calls wait for the first): it stops the orphans, then runs `after` (the record takes in
    what they wrote), then sets `done`."""

    def __init__(self, pids: list[int], after: Callable[[], Awaitable[None]]) -> None:
        self.pids = pids
        self.done = asyncio.Event()
        self._after = after
        self._task: asyncio.Task[None] | None = None

    async def complete(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="orphan-handover")
        # Shielded: a watch that ends mid-way must not leave the orphan running or `done` unset.
        await asyncio.shield(self._task)

    async def _run(self) -> None:
        try:
            await stop_pids(self.pids)
            await self._after()
        finally:
            self.done.set()


async def stop_pids(pids: list[int], grace_s: float = 5.0) -> None:
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
