"""FfmpegProcess against real processes: start, stderr tail, stop of the whole group, reaping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path

import pytest

from agent.ffmpeg.process import FfmpegProcess, ProcessState
from videorec_testing.wait import await_until, wait_until

pytestmark = pytest.mark.anyio

FFMPEG = "ffmpeg"
SECRET = "hunter2-Secret"


def alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (killed, not yet reaped by init) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def child_processes(name: str = "ffmpeg") -> list[int]:
    """Pids of this test process's live children called `name` (no psutil needed)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if comm == name and int(fields[1]) == os.getpid() and fields[0] not in ("Z", "X"):
            pids.append(int(entry.name))
    return pids


def endless_ffmpeg(*extra: str) -> list[str]:
    """An ffmpeg that runs until stopped: a real-time test pattern into the null muxer."""
    return [
        FFMPEG,
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10",
        *extra,
        "-f",
        "null",
        "-",
    ]


async def test_runs_to_completion_and_reports_states() -> None:
    proc = FfmpegProcess(
        [
            FFMPEG,
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48",
            "-frames:v",
            "3",
            "-f",
            "null",
            "-",
        ],
        name="complete",
    )
    assert proc.state is ProcessState.NEW and not proc.running
    await proc.start()
    assert proc.state is ProcessState.RUNNING and proc.pid is not None
    assert await proc.wait() == 0
    assert proc.state is ProcessState.EXITED and proc.returncode == 0 and not proc.running
    assert await proc.stop() == 0  # nothing left to stop


async def test_stop_terminates_a_running_ffmpeg_promptly() -> None:
    async with FfmpegProcess(endless_ffmpeg(), name="endless") as proc:
        await asyncio.sleep(0.3)
        assert proc.running
        started = time.monotonic()
        returncode = await proc.stop(grace=5.0)
    # ffmpeg honours SIGTERM: it exits by itself (no SIGKILL, so not -9) well before the grace ends.
    assert time.monotonic() - started < 5.0
    assert returncode not in (0, -signal.SIGKILL) and proc.state is ProcessState.EXITED
    assert child_processes() == []


async def test_stop_kills_the_whole_group_when_sigterm_is_ignored() -> None:
    # The shell and its child both ignore SIGTERM (an ignored signal stays ignored across exec).
    script = 'trap "" TERM; sleep 600 & echo $!; wait'
    proc = FfmpegProcess(["sh", "-c", script], name="stubborn", stdout_pipe=True)
    await proc.start()
    grandchild = int(await proc.stdout.readline())
    assert alive(grandchild)
    started = time.monotonic()
    returncode = await proc.stop(grace=0.5)
    assert 0.5 <= time.monotonic() - started < 3.0
    assert returncode == -9
    # The grandchild is killed at once; init may take a moment to reap it.
    await await_until(lambda: not alive(grandchild), 5, interval=0.02, what="the grandchild gone")


async def test_stop_returns_even_when_stdout_is_full_and_unread() -> None:
    # Lots of output that nobody reads: ffmpeg blocks on the full pipe. asyncio's own pipes would
    # make Process.wait() hang here; stop() must still kill, reap and return.
    argv = [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360", "-f", "rawvideo", "-"]
    proc = FfmpegProcess(argv, name="flood", stdout_pipe=True)
    await proc.start()
    await asyncio.sleep(0.5)
    async with asyncio.timeout(10):
        await proc.stop(grace=1.0)
    assert proc.returncode is not None
    assert child_processes() == []


async def test_cancelled_stop_still_reaps_the_process() -> None:
    proc = FfmpegProcess(endless_ffmpeg(), name="cancelled-stop")
    await proc.start()
    stopper = asyncio.create_task(proc.stop(grace=5.0))
    await asyncio.sleep(0)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    async with asyncio.timeout(10):
        await proc.wait()
    assert proc.returncode is not None
    assert child_processes() == []


async def test_a_cancelled_start_leaves_no_process_once_the_cancel_returns() -> None:
    # A reader closed while its ffmpeg is being spawned (a camera restarting as the viewer leaves):
    # whenever the cancel lands, no child may outlive it, not even for the moment a kill takes.
    for step in range(12):
        proc = FfmpegProcess(endless_ffmpeg(), name=f"cancelled-start-{step}", stdout_pipe=True)
        starter = asyncio.create_task(proc.start())
        for _ in range(step):
            await asyncio.sleep(0)
        await asyncio.sleep(0.002 * step)
        starter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starter
        if starter.cancelled():
            assert child_processes() == [], f"a child outlived the start cancelled at step {step}"
        await proc.stop(grace=1.0)
        assert child_processes() == []


async def test_stderr_tail_and_logs_never_show_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="agent.ffmpeg.process")
    # ffmpeg echoes both inputs in its errors: a URL with credentials and a path holding the secret.
    url = f"rtsp://admin:{SECRET}@127.0.0.1:1/stream"
    proc = FfmpegProcess([FFMPEG, "-nostdin", "-i", url], name="redact", secrets=[SECRET])
    await proc.start()
    assert await proc.wait() != 0
    tail = proc.stderr_tail()
    assert any("Connection refused" in line for line in tail)
    assert any("rtsp://admin:***@127.0.0.1:1" in line for line in tail)
    path = f"/nonexistent/{SECRET}.mp4"
    proc = FfmpegProcess([FFMPEG, "-nostdin", "-i", path], name="redact-file", secrets=[SECRET])
    await proc.start()
    await proc.wait()
    assert any("No such file or directory" in line for line in proc.stderr_tail())
    for text in [*tail, *proc.stderr_tail(), caplog.text]:
        assert SECRET not in text


async def test_stderr_tail_is_bounded_to_the_last_lines() -> None:
    proc = FfmpegProcess(["sh", "-c", "for i in $(seq 1 500); do echo line $i >&2; done"], name="chatty")
    await proc.start()
    await proc.wait()
    tail = proc.stderr_tail()
    assert len(tail) == 50 and tail[-1] == "line 500" and tail[0] == "line 451"


async def test_stdin_data_reaches_the_child_and_not_its_command_line() -> None:
    # The shell stays a moment after cat, so that its command line can be read.
    argv = ["sh", "-c", "cat; sleep 0.5"]
    proc = FfmpegProcess(argv, name="stdin", stdout_pipe=True, stdin_data=SECRET.encode())
    await proc.start()
    # The exec may still be finishing: the kernel closes the pipe Popen waits on before it sets up
    # the new command line, which reads empty until then.
    cmdline = wait_until(lambda: Path(f"/proc/{proc.pid}/cmdline").read_bytes(), 2, interval=0.005)
    assert await proc.stdout.read() == SECRET.encode()
    assert await proc.wait() == 0
    assert cmdline.split(b"\0")[:3] == [b"sh", b"-c", b"cat; sleep 0.5"]


async def test_missing_binary_raises_and_leaves_nothing_to_stop() -> None:
    proc = FfmpegProcess(["/nonexistent/ffmpeg"], name="missing")
    with pytest.raises(FileNotFoundError):
        await proc.start()
    assert await proc.stop() == 0
    assert proc.state is ProcessState.EXITED
    with pytest.raises(RuntimeError):
        await proc.start()


async def test_children_get_none_of_the_agents_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc/<ffmpeg>/environ is readable by the user's other processes: no token may sit there."""
    monkeypatch.setenv("VIDEOREC_AGENT_TOKEN", "canary-agent-token")
    monkeypatch.setenv("VIDEOREC_API_TOKEN", "canary-api-token")
    async with FfmpegProcess(endless_ffmpeg(), name="env") as proc:
        assert proc.pid is not None
        # Empty until the exec has finished setting up the new program (as the cmdline above).
        environ = wait_until(lambda: Path(f"/proc/{proc.pid}/environ").read_bytes(), 2, interval=0.005)
    assert b"canary" not in environ and b"VIDEOREC" not in environ
    assert b"PATH=" in environ  # it still finds what it needs
