"""Starting an ffmpeg child off the event loop, and knowing when it exits (for agent.ffmpeg.process).

`asyncio.create_subprocess_exec` forks and waits for the exec on the event loop, 16-48 ms a child
measured on the loaded 2-core machine, so a group start of 25 records stalled the agent's loop (its
RPCs, heartbeats, watchdogs) for over a second. `subprocess.Popen` runs in a small pool of threads
instead (the fork and the exec wait release the loop), and the exit is awaited on a pidfd registered
with the loop (no thread per child).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# ffmpeg needs none of the agent's settings, and its token must not sit in /proc/<pid>/environ of
# every child: it gets where to find programs, the locale and the time zone.
_CHILD_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")


# Spawning threads: enough to start a group's ffmpeg in parallel, few enough not to fork-storm.
_SPAWNER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ffmpeg-spawn")


def child_environment() -> dict[str, str]:
    return {key: os.environ[key] for key in _CHILD_ENV_KEYS if key in os.environ}


async def spawn(
    argv: list[str],
    stdin: int,
    stdout: int,
    stderr: int,
    close_after: list[int],
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen[bytes]:
    """Popen on a spawning thread, which then closes `close_after` (the child's ends of its pipes).
    A start cancelled meanwhile still gets its child, and kills and reaps it before it returns."""

    def run() -> subprocess.Popen[bytes]:
        try:
            return popen(argv, stdin, stdout, stderr, pass_fds)
        finally:
            for fd in close_after:
                os.close(fd)

    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_SPAWNER, run)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        # The child is made all the same: it is killed and reaped before the cancellation goes on,
        # so whoever cancelled (a reader's close, a shutdown) finds no ffmpeg of ours left running.
        # Held here until it has reaped (the loop keeps tasks only weakly).
        await wait_through_cancels(loop.create_task(_end_orphan(future), name="ffmpeg-orphan"))
        raise


async def wait_through_cancels(future: asyncio.Future[Any]) -> None:
    """Until `future` is done, even if the caller is cancelled again meanwhile (a close that
    cancels twice): only for what is bounded and short, a SIGKILLed child being reaped."""
    while not future.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(future)


async def _end_orphan(future: asyncio.Future[subprocess.Popen[bytes]]) -> None:
    try:
        proc = await asyncio.shield(future)
    except Exception:  # noqa: BLE001 - no child was made: nothing to end
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await asyncio.get_running_loop().run_in_executor(None, proc.wait)


def popen(
    argv: list[str], stdin: int, stdout: int, stderr: int, pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - an argument list, never a shell
        argv,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        pass_fds=pass_fds,  # the record's file, opened to append, for an ffmpeg writing `pipe:N`
        start_new_session=True,
        env=child_environment(),
        # Keep Python's SIGPIPE=ignore in the child: if the agent dies, ffmpeg's next log line
        # to the closed stderr pipe must not kill a recording mid-fragment (it gets EPIPE
        # and goes on recording until the restarted agent stops it cleanly).
        restore_signals=False,
    )


def exit_future(loop: asyncio.AbstractEventLoop, proc: subprocess.Popen[bytes]) -> asyncio.Future[int]:
    """A future of the child's exit status: the loop watches a pidfd (readable once the child has
    exited) and then reaps it; where pidfds are missing, a thread waits."""
    exited: asyncio.Future[int] = loop.create_future()

    def settle(returncode: int) -> None:
        if not exited.done():
            exited.set_result(returncode)

    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux ≥ 5.3: one waiting thread for this child
        loop.run_in_executor(None, proc.wait).add_done_callback(lambda f: settle(f.result()))
        return exited

    def on_exit() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        settle(proc.wait())  # exited already: reaps at once

    loop.add_reader(pidfd, on_exit)
    return exited


def prefilled_pipe(data: bytes) -> int:
    """A pipe's read end that yields `data` then EOF: written up front, so nothing can block on it."""
    read_end, write_end = os.pipe()
    try:
        os.set_blocking(write_end, False)
        if os.write(write_end, data) != len(data):
            raise ValueError("stdin_data does not fit in a pipe buffer")
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return read_end
