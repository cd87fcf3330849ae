"""MJPEG fan-out: the agent's CPU with 1, 10 and 100 viewers of one source at /video?delay=0.2.

    .venv/bin/python bench/mjpeg_fanout.py

The agent runs one upstream ffmpeg reader per source however many watch; this measures what each
further viewer costs. For every viewer count the viewers (one asyncio httpx client, one connection
each) connect, all get a first frame, then the CPU time (user + system, from /proc) of the agent
process and of its ffmpeg children is taken over a fixed window, as are the frames each viewer
received in it (expected: window / delay). The control plane's CPU, which turns every viewer's gRPC
stream into an HTTP response, and this script's own (the viewers) are shown for context. The
baseline is the 1-viewer row of the same run.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncio
import os
import statistics
import time
from dataclasses import dataclass

import httpx

from bench.common import (
    CpuSample,
    PartCounter,
    Stack,
    add_rtsp_source,
    cpu_sample,
    live_reader_pids,
    markdown_table,
    ratio,
    running_stack,
    wait_source_online,
    yes_no,
)

VIEWER_COUNTS = (1, 10, 100)
WINDOW_S = 10.0
SETTLE_S = 1.0  # after every viewer has its first frame, before the window opens
DELAY = 0.2
CAMERA = {"width": 640, "height": 360, "fps": 15, "bitrate": 800}
GOAL_RATIO = 1.5
# No background probe may run an ffmpeg in a window (a watched source is not probed anyway).
AGENT_ENV = {"VIDEOREC_AGENT_PROBE_INTERVAL_S": "600"}


@dataclass
class Level:
    viewers: int
    frames: list[int]  # per viewer, in the window
    agent: CpuSample  # CPU used in the window: `own` the agent process, `children` its ffmpeg
    cp: CpuSample
    client: CpuSample
    readers: int  # live ffmpeg readers of the agent at the end of the window


async def view(client: httpx.AsyncClient, source_id: int, counter: PartCounter) -> None:
    url = f"/api/v1/source/{source_id}/video"
    async with client.stream("GET", url, params={"delay": DELAY}) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            counter.feed(chunk)


async def wait_all_serving(tasks: list[asyncio.Task[None]], counters: list[PartCounter]) -> None:
    deadline = time.monotonic() + 30
    while not all(c.count for c in counters):
        for task in tasks:
            if task.done():
                raise RuntimeError(f"a viewer ended before its first frame: {task.exception()!r}")
        if time.monotonic() > deadline:
            waiting = sum(1 for c in counters if not c.count)
            raise RuntimeError(f"{waiting} of {len(counters)} viewers got no frame within 30 s")
        await asyncio.sleep(0.05)


async def measure_level(client: httpx.AsyncClient, stack: Stack, source_id: int, n: int) -> Level:
    counters = [PartCounter() for _ in range(n)]
    tasks = [asyncio.create_task(view(client, source_id, c)) for c in counters]
    try:
        await wait_all_serving(tasks, counters)
        await asyncio.sleep(SETTLE_S)
        samples = [cpu_sample(pid) for pid in (stack.agent_pid, stack.cp_pid, os.getpid())]
        frames_before = [c.count for c in counters]
        await asyncio.sleep(WINDOW_S)
        after = [cpu_sample(pid) for pid in (stack.agent_pid, stack.cp_pid, os.getpid())]
        frames = [c.count - before for c, before in zip(counters, frames_before, strict=True)]
        readers = len(live_reader_pids(stack.agent_pid))
        for task in tasks:
            if task.done():
                raise RuntimeError(f"a viewer ended during the window: {task.exception()!r}")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    agent, cp, me = (a - b for a, b in zip(after, samples, strict=True))
    return Level(n, frames, agent, cp, me, readers)


async def measure(stack: Stack) -> list[Level]:
    source_id = add_rtsp_source(stack.cp, stack.camera.url)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=stack.cp.url, timeout=30.0, limits=limits) as client:
        # Not measured: placement of the source, the control plane's gRPC channel, the first probe.
        (await client.get(f"/api/v1/source/{source_id}/picture")).raise_for_status()
        await asyncio.to_thread(wait_source_online, stack.cp, source_id)
        return [await measure_level(client, stack, source_id, n) for n in VIEWER_COUNTS]


def seconds(value: float) -> str:
    return f"{value:.2f}"


def report(levels: list[Level]) -> None:
    base = levels[0]
    rows = []
    for level in levels:
        window = level.agent.at
        frames = level.frames
        rows.append(
            [
                level.viewers,
                f"{min(frames)} / {statistics.median(frames):g} / {max(frames)}",
                level.readers,
                seconds(level.agent.own),
                seconds(level.agent.children),
                seconds(level.agent.total),
                f"{100 * level.agent.total / window:.0f} %",
                ratio(level.agent.own, base.agent.own),
                ratio(level.agent.children, base.agent.children),
                f"**{ratio(level.agent.total, base.agent.total)}**",
                seconds(level.cp.own),
                ratio(level.cp.own, base.cp.own),
                seconds(level.client.own),
            ]
        )
    headers = [
        "viewers",
        f"frames/viewer in window min/med/max (expect {WINDOW_S / DELAY:g})",
        "live ffmpeg readers",
        "agent process CPU s",
        "agent ffmpeg CPU s",
        "agent total CPU s",
        "agent total, of one core",
        "agent process vs 1",
        "agent ffmpeg vs 1",
        "agent total vs 1",
        "control plane CPU s",
        "control plane vs 1",
        "viewers' client CPU s",
    ]
    print(markdown_table(headers, rows, align="r" * len(headers)))
    print()
    top = levels[-1]
    measured = top.agent.total / base.agent.total
    goal = [
        [
            f"agent CPU (process + ffmpeg), {top.viewers} viewers vs 1",
            f"≤ {GOAL_RATIO:.2f}×",
            f"{measured:.2f}×",
            yes_no(measured <= GOAL_RATIO),
        ]
    ]
    print(markdown_table(["goal", "target", "measured", "met"], goal, align="lrrl"))


def main() -> None:
    started = time.monotonic()
    with running_stack(camera=CAMERA, agent_env=AGENT_ENV) as stack:
        print(
            f"stack up in {time.monotonic() - started:.1f} s; camera {stack.camera.url} {CAMERA}; "
            f"{os.cpu_count()} CPUs; window {WINDOW_S:g} s per viewer count, delay={DELAY:g}\n"
        )
        levels = asyncio.run(measure(stack))
    report(levels)
    print(f"\nwhole run (start-up, measurements, shutdown): {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
