"""The one supervisor of an ffmpeg child process, used for every ffmpeg the agent runs.

The child gets an argument list (never a shell), `/dev/null`, a one-shot script or a live pipe
(`stdin_pipe`: `write()` then `close_stdin()`, for a time-lapse fed JPEGs) as stdin, and its own
session, so that stopping it reaches its whole process group. Its stderr is read all the time
into a bounded, redacted tail (the last lines explain why it died), and it is always reaped: `stop()`
goes SIGTERM → wait → SIGKILL in a task that the caller's cancellation cannot interrupt.

The pipes are made here (`os.pipe`), not by asyncio: `asyncio.subprocess.Process.wait()` in 3.11
also waits until every pipe that asyncio made is closed, so a consumer that stops reading stdout
(or a straggler holding stderr) would make it hang after the child is long dead.

The child is started off the event loop and its exit awaited on a pidfd (agent.ffmpeg.spawn).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import re
import shlex
import signal
import subprocess
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from agent.errors import StdinClosed
from agent.ffmpeg.spawn import exit_future, prefilled_pipe, spawn, wait_through_cancels
from shared.redact import redact_text

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 50
# A "line" longer than this is cut, so a child that never ends its lines cannot grow our buffer.
_STDERR_LINE_MAX = 4096
# ffmpeg ends its progress lines with "\r", its messages with "\n".
_LINE_END = re.compile(rb"[\r\n]")
# After the child exits, its stderr reaches EOF at once unless something else in the group holds it.
_STDERR_DRAIN_S = 1.0
# The reader pauses the pipe when this much is buffered: room for a few large JPEGs.
_STDOUT_LIMIT = 1 << 20
# stdin_data is written into the pipe before the child starts, so it must fit in the pipe buffer.
_STDIN_MAX = 60 * 1024


class ProcessState(enum.Enum):
    NEW = "new"  # not started (or start() failed)
    RUNNING = "running"
    STOPPING = "stopping"  # stop() has sent SIGTERM and waits for the exit
    EXITED = "exited"  # reaped, returncode set, stderr drained


class FfmpegProcess:
    """One ffmpeg child: `start()`, read `stdout`, `wait()` or `stop()`; or `async with`."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        stdout_pipe: bool = False,
        secrets: Sequence[str] = (),
        stdin_data: bytes | None = None,
        stdin_pipe: bool = False,
        log_level: int = logging.INFO,
        output_fd: int | None = None,
    ) -> None:
        """`log_level` is for the start and the expected exit (frequent short-lived grabs use DEBUG);
        an unexpected failure is logged as a warning at INFO and above. `output_fd`: a descriptor
        the child inherits under the same number (its argv names it `pipe:N`); it is this object's
        to close, once the child has its copy (or the start failed)."""
        if stdin_data is not None and len(stdin_data) > _STDIN_MAX:
            raise ValueError(f"stdin_data is {len(stdin_data)} bytes, at most {_STDIN_MAX} fit")
        if stdin_data is not None and stdin_pipe:
            raise ValueError("stdin is either a prefilled script or a live pipe, not both")
        self.argv = list(argv)
        self.name = name
        self._stdout_pipe = stdout_pipe
        self._secrets = tuple(secrets)
        self._stdin_data = stdin_data
        self._stdin_pipe = stdin_pipe
        self._output_fd = output_fd
        self._stdin: asyncio.StreamWriter | None = None
        self._log_level = log_level
        self._state = ProcessState.NEW
        self._proc: subprocess.Popen[bytes] | None = None
        self._exited: asyncio.Future[int] | None = None
        self._stdout: asyncio.StreamReader | None = None
        self._transports: list[asyncio.ReadTransport] = []
        self._tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._stderr_task: asyncio.Task[None] | None = None
        self._exit_task: asyncio.Task[int] | None = None
        self._stop_task: asyncio.Task[int] | None = None

    # -- state -------------------------------------------------------------------------------------

    @property
    def state(self) -> ProcessState:
        return self._state

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status once reaped; negative for a signal, as in `subprocess`."""
        exited = self._exited
        return exited.result() if exited is not None and exited.done() else None

    @property
    def running(self) -> bool:
        return self._exited is not None and not self._exited.done()

    @property
    def stdout(self) -> asyncio.StreamReader:
        if self._stdout is None:
            raise RuntimeError(f"{self.name}: stdout is not piped or the process has not started")
        return self._stdout

    def stderr_tail(self) -> list[str]:
        """The last stderr lines, oldest first, already redacted."""
        return list(self._tail)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._state is not ProcessState.NEW:
            raise RuntimeError(f"{self.name}: start() called in state {self._state.value}")
        loop = asyncio.get_running_loop()
        child_ends: list[int] = []  # closed in the parent once the child has its copies
        parent_ends: list[int] = []  # closed here only if the start fails
        passed: tuple[int, ...] = ()
        if self._output_fd is not None:
            passed, self._output_fd = (self._output_fd,), None
            child_ends.append(passed[0])
        try:
            stdin: int = subprocess.DEVNULL
            if self._stdin_data is not None:
                stdin = prefilled_pipe(self._stdin_data)
                child_ends.append(stdin)
            elif self._stdin_pipe:
                stdin, in_w = os.pipe()
                parent_ends.append(in_w)
                child_ends.append(stdin)
            err_r, err_w = os.pipe()
            parent_ends.append(err_r)
            child_ends.append(err_w)
            stdout: int = subprocess.DEVNULL
            if self._stdout_pipe:
                out_r, stdout = os.pipe()
                parent_ends.append(out_r)
                child_ends.append(stdout)
            # The spawning thread closes the child's ends once the child has its copies, also when
            # this start is cancelled meanwhile.
            handed, child_ends = child_ends, []
            self._proc = await spawn(self.argv, stdin, stdout, err_w, handed, passed)
            self._exited = exit_future(loop, self._proc)
        except BaseException:
            for fd in parent_ends:
                os.close(fd)
            raise
        finally:
            for fd in child_ends:
                os.close(fd)
        self._state = ProcessState.RUNNING
        command = redact_text(shlex.join(self.argv), self._secrets)
        log.log(self._log_level, "%s: started pid %s: %s", self.name, self._proc.pid, command)
        try:
            stderr = await self._connect(loop, err_r, limit=_STDERR_LINE_MAX * 4)
            if self._stdout_pipe:
                self._stdout = await self._connect(loop, out_r, limit=_STDOUT_LIMIT)
            if self._stdin_pipe:
                transport, protocol = await loop.connect_write_pipe(
                    asyncio.streams.FlowControlMixin, os.fdopen(in_w, "wb", buffering=0)
                )
                self._stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        except BaseException:
            self._signal_group(signal.SIGKILL)  # a child we cannot supervise must not run on
            # ... and is reaped before the error goes on: a cancelled start leaves no process behind.
            if self._exited is not None:
                await wait_through_cancels(self._exited)
            raise
        self._stderr_task = asyncio.create_task(self._read_stderr(stderr), name=f"{self.name}-stderr")
        self._exit_task = asyncio.create_task(self._watch_exit(), name=f"{self.name}-exit")

    async def write(self, data: bytes) -> None:
        """Send `data` on the stdin pipe, waiting while it is full; StdinClosed once it is not read."""
        writer = self._stdin
        if writer is None or writer.is_closing():
            raise StdinClosed(self.name)
        try:
            writer.write(data)
            await writer.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise StdinClosed(self.name) from exc

    def close_stdin(self) -> None:
        """End of input: ffmpeg then flushes its encoder and writes the file's end by itself."""
        writer, self._stdin = self._stdin, None
        if writer is not None and not writer.is_closing():
            # The transport flushes what is buffered, then closes. No wait_closed(): the plain
            # FlowControlMixin protocol has no close waiter; waiting for ffmpeg's exit says more.
            writer.close()

    async def wait(self) -> int:
        """Wait for the exit; cancelling the caller does not disturb the supervision."""
        if self._exit_task is None:
            raise RuntimeError(f"{self.name}: wait() before start()")
        return await asyncio.shield(self._exit_task)

    async def stop(self, grace: float = 5.0) -> int:
        """SIGTERM the process group, SIGKILL it after `grace` s, and return the exit status.

        Runs in its own task, shielded: if the caller is cancelled, the child is still killed and
        reaped. Concurrent and repeated calls share that one task. A process that never started
        has nothing to stop: it is marked EXITED (it can no longer start) and 0 is returned.
        """
        self.close_stdin()
        if self._exit_task is None:
            self._state = ProcessState.EXITED
            if self._output_fd is not None:  # never handed to a child
                os.close(self._output_fd)
                self._output_fd = None
            return 0
        if self._stop_task is None:
            self._stop_task = asyncio.create_task(self._terminate(grace), name=f"{self.name}-stop")
        return await asyncio.shield(self._stop_task)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- internals ---------------------------------------------------------------------------------

    async def _connect(self, loop: asyncio.AbstractEventLoop, fd: int, limit: int) -> asyncio.StreamReader:
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        pipe = os.fdopen(fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe
        )
        self._transports.append(transport)
        return reader

    async def _read_stderr(self, stderr: asyncio.StreamReader) -> None:
        pending = b""
        while chunk := await stderr.read(65536):
            *lines, pending = _LINE_END.split(pending + chunk)
            for raw in lines:
                self._add_line(raw)
            if len(pending) > _STDERR_LINE_MAX:
                self._add_line(pending)
                pending = b""
        self._add_line(pending)

    def _add_line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if text:
            line = redact_text(text, self._secrets)
            self._tail.append(line)
            log.debug("%s: %s", self.name, line)

    async def _watch_exit(self) -> int:
        assert self._proc is not None and self._exited is not None and self._stderr_task is not None
        returncode = await asyncio.shield(self._exited)
        # Keep the last words: a straggler in the process group may hold stderr open, so bound it.
        done, _ = await asyncio.wait({self._stderr_task}, timeout=_STDERR_DRAIN_S)
        if not done:
            self._stderr_task.cancel()
        stopping = self._state is ProcessState.STOPPING
        self._state = ProcessState.EXITED
        last = self._tail[-1] if self._tail else ""
        level = self._log_level
        if not stopping and returncode != 0 and level >= logging.INFO:
            level = logging.WARNING
        log.log(level, "%s: pid %s exited with %s: %s", self.name, self._proc.pid, returncode, last or "-")
        return returncode

    async def _terminate(self, grace: float) -> int:
        assert self._exit_task is not None
        # Only a group whose leader we saw alive is signalled: long after the exit, its id may be reused.
        alive = not self._exit_task.done()
        try:
            if alive:
                self._state = ProcessState.STOPPING
                self._signal_group(signal.SIGTERM)
                done, _ = await asyncio.wait({self._exit_task}, timeout=grace)
                if not done:
                    log.warning(
                        "%s: pid %s ignored SIGTERM for %.1f s, killing it", self.name, self.pid, grace
                    )
        finally:
            # Also when SIGTERM was enough: a member of the group that ignored it must not outlive ffmpeg.
            if alive:
                self._signal_group(signal.SIGKILL)
        returncode = await self._exit_task
        for transport in self._transports:
            transport.close()  # unread output would otherwise keep the pipe open
        return returncode

    def _signal_group(self, signum: int) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signum)  # start_new_session made the pid the group id
