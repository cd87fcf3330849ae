"""Shared helpers of the benchmarks: the stack as real processes, CPU time from /proc, statistics
and Markdown tables.

The benchmarks start what they measure themselves (a temporary directory, an RTSP test camera, a
control plane and one agent, through the end-to-end test helpers) and stop all of it on the way out,
also on an error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.processes import AgentProc, ControlPlane
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until

CLK_TCK = os.sysconf("SC_CLK_TCK")
AGENT_NAME = "bench-agent"
BOUNDARY = b"--frame\r\n"  # the control plane's multipart boundary line


# --- the stack -------------------------------------------------------------------------------------


@dataclass
class Stack:
    tmp: Path
    camera: RtspCamera
    cp: ControlPlane
    agent: AgentProc

    @property
    def agent_pid(self) -> int:
        assert self.agent.proc is not None
        return self.agent.proc.pid

    @property
    def cp_pid(self) -> int:
        assert self.cp.proc is not None
        return self.cp.proc.pid


def _sigterm_to_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so that `finally` blocks stop the stack


def _stop_leftover_children() -> None:
    """Last resort: stop any process this script started that still runs, by its pid.

    Normally there is none; this catches e.g. a control plane that never became ready, which the
    start helper leaves running when it gives up waiting.
    """
    me = os.getpid()
    leftovers = {pid for pid, ppid in _ppids().items() if ppid == me}
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while leftovers and time.monotonic() < deadline:
        for pid in list(leftovers):
            with contextlib.suppress(ChildProcessError):
                if not os.waitpid(pid, os.WNOHANG)[0]:
                    continue
            leftovers.discard(pid)
        time.sleep(0.05)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


@contextlib.contextmanager
def workspace(keep: bool = False) -> Iterator[tuple[Path, contextlib.ExitStack]]:
    """A temporary directory and a stack of clean-ups for a benchmark's processes.

    The directory (with the processes' logs) is deleted after a clean run unless `keep`, and kept,
    with its path printed, after a failure; SIGTERM ends the run through the same clean-ups."""
    signal.signal(signal.SIGTERM, _sigterm_to_exit)
    tmp = Path(tempfile.mkdtemp(prefix="videorec-bench-"))
    ok = False
    try:
        with contextlib.ExitStack() as stop:
            stop.callback(_stop_leftover_children)  # runs last
            yield tmp, stop
        ok = True
    finally:
        if ok and not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif ok:
            print(f"\nlogs kept in {tmp}", file=sys.stderr)
        else:
            print(f"\nbenchmark failed; logs kept in {tmp}", file=sys.stderr)


@contextlib.contextmanager
def running_stack(
    *,
    camera: dict[str, int] | None = None,
    agent_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """A camera, a control plane and one online agent (the tests' `start_stack`), all stopped on exit."""
    with workspace() as (tmp, stop):
        cam = start_rtsp_camera(**(camera or {}), log_dir=tmp)
        stop.callback(cam.stop)
        stack = stop.enter_context(start_stack(tmp, agents=[AGENT_NAME], agent_env=agent_env))
        yield Stack(tmp, cam, stack.cp, stack.agent)


def add_rtsp_source(cp: ControlPlane, url: str) -> int:
    with cp.client() as client:
        response = client.post("/api/v1/source", json={"model": "Source", "uri_rtsp": url})
    response.raise_for_status()
    return response.json()["id"]


def wait_source_online(cp: ControlPlane, source_id: int, timeout: float = 15.0) -> None:
    """Until the agent has probed the source and reported it online."""

    def online() -> bool:
        with cp.client() as client:
            return client.get(f"/api/v1/source/{source_id}").json()["status"] == "online"

    wait_until(online, timeout, interval=0.1, what=f"source {source_id} online")


class PartCounter:
    """Counts the parts of a multipart MJPEG stream fed to it in chunks of any size."""

    def __init__(self, boundary: bytes = BOUNDARY) -> None:
        self._boundary = boundary
        self._tail = b""
        self.count = 0

    def feed(self, chunk: bytes) -> None:
        data = self._tail + chunk
        self.count += data.count(self._boundary)
        last = data.rfind(self._boundary)
        rest = data if last < 0 else data[last + len(self._boundary) :]
        self._tail = rest[-(len(self._boundary) - 1) :]


def get_ok(client: httpx.Client, url: str) -> bytes:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:300]}")
    return response.content


# --- processes and CPU time ------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 (state) on: index i is field i + 3."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _ppids() -> dict[int, int]:
    """Every process's parent (/proc/<pid>/task/*/children is not available on every kernel)."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(name)] = int(_stat(int(name))[1])
    return parents


def child_pids(pid: int) -> list[int]:
    return [child for child, parent in _ppids().items() if parent == pid]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def live_reader_pids(agent_pid: int) -> list[int]:
    """The agent's live-reader ffmpeg children: MJPEG to a pipe without end (snapshots and probes
    stop after one frame)."""
    return [
        pid
        for pid in child_pids(agent_pid)
        if "image2pipe" in (line := cmdline(pid)) and "-frames:v 1" not in line
    ]


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds (user + system) of a process and, separately, of all its descendants."""

    at: float  # time.monotonic() of the sample
    own: float
    children: float  # reaped children (cutime + cstime) plus the running ones with their own children

    def __sub__(self, earlier: CpuSample) -> CpuSample:
        return CpuSample(self.at - earlier.at, self.own - earlier.own, self.children - earlier.children)

    @property
    def total(self) -> float:
        return self.own + self.children


def cpu_sample(pid: int) -> CpuSample:
    """Subtract two samples for the CPU used in between; a child that started, ran and was reaped in
    between is counted through its parent's cutime/cstime."""
    parents = _ppids()
    kids: dict[int, list[int]] = {}
    for child, parent in parents.items():
        kids.setdefault(parent, []).append(child)

    def running_descendants(p: int) -> float:
        total = 0.0
        for child in kids.get(p, []):
            try:
                fields = _stat(child)
            except OSError:
                continue  # gone: once reaped, its time is in the parent's cutime/cstime
            total += sum(int(f) for f in fields[11:15]) / CLK_TCK  # utime stime cutime cstime
            total += running_descendants(child)
        return total

    at = time.monotonic()
    fields = _stat(pid)
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    reaped = (int(fields[13]) + int(fields[14])) / CLK_TCK
    return CpuSample(at, own, reaped + running_descendants(pid))


# --- statistics and tables -------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), interpolated linearly between the closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}×" if baseline > 0 else "n/a"


def yes_no(met: bool) -> str:
    return "**yes**" if met else "**NO**"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A Markdown table; `align` has one letter per column, "l" or "r" (default: first left, rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = (c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align, strict=True)
        )
        + "|"
    )
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])
