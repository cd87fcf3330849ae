"""An `FfmpegProcess` whose stdin is a pipe the agent keeps writing to (images for a time-lapse).

`FfmpegProcess` gives its child `/dev/null` or a prefilled one-shot script as stdin; a picture
recording needs a live pipe. This subclass only replaces how the child is started and adds
`write()` / `close_stdin()`; supervision, the stderr tail and the SIGTERM → SIGKILL stop are the
parent's. (Should `FfmpegProcess` grow a `stdin_pipe=True` option, this file can go.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
import subprocess

from agent.ffmpeg.process import FfmpegProcess, ProcessState
from shared.redact import redact_text

log = logging.getLogger(__name__)


class FeederClosed(Exception):
    """The child no longer reads its stdin (it exited, or `close_stdin()` was called)."""


class FedFfmpegProcess(FfmpegProcess):
    """One ffmpeg child reading what `write()` sends it; `close_stdin()` is its end of input."""

    _stdin_writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        if self._state is not ProcessState.NEW:
            raise RuntimeError(f"{self.name}: start() called in state {self._state.value}")
        loop = asyncio.get_running_loop()
        in_r, in_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=in_r,
                stdout=subprocess.DEVNULL,
                stderr=err_w,
                start_new_session=True,  # stop() signals the whole group
            )
        except BaseException:
            os.close(in_w)
            os.close(err_r)
            raise
        finally:
            os.close(in_r)
            os.close(err_w)
        self._state = ProcessState.RUNNING
        command = redact_text(shlex.join(self.argv), self._secrets)
        log.log(self._log_level, "%s: started pid %s: %s", self.name, self._proc.pid, command)
        try:
            stderr = await self._connect(loop, err_r, limit=1 << 16)
            transport, protocol = await loop.connect_write_pipe(
                asyncio.streams.FlowControlMixin, os.fdopen(in_w, "wb", buffering=0)
            )
        except BaseException:
            self._signal_group(signal.SIGKILL)
            raise
        self._stdin_writer = asyncio.StreamWriter(transport, protocol, None, loop)
        self._stderr_task = asyncio.create_task(self._read_stderr(stderr), name=f"{self.name}-stderr")
        self._exit_task = asyncio.create_task(self._watch_exit(), name=f"{self.name}-exit")

    async def write(self, data: bytes) -> None:
        """Send `data`, waiting while the pipe is full; FeederClosed once the child stopped reading."""
        writer = self._stdin_writer
        if writer is None or writer.is_closing():
            raise FeederClosed(self.name)
        try:
            writer.write(data)
            await writer.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise FeederClosed(self.name) from exc

    async def close_stdin(self) -> None:
        """End of input: ffmpeg then flushes its encoder and writes the file's end by itself."""
        writer, self._stdin_writer = self._stdin_writer, None
        if writer is not None and not writer.is_closing():
            # The transport flushes what is buffered, then closes. No wait_closed(): the plain
            # FlowControlMixin protocol has no close waiter; waiting for ffmpeg's exit says more.
            writer.close()

    async def stop(self, grace: float = 5.0) -> int:
        await self.close_stdin()
        return await super().stop(grace)
