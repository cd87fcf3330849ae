"""Recording overhead: what the agent costs per stream on top of the ffmpeg processes it supervises.

    .venv/bin/python bench/recording_overhead.py [--quick]

One 1280x720 25 fps 2000 kbit/s RTSP test camera (one shared encoder for every client), one control
plane, one agent. For each N in 1, 10, 50, 100, 200 (--quick: 1, 10, 50):

- baseline: N bare ffmpeg processes started by this script with exactly the agent's recording argv
  (`agent.ffmpeg.commands.record_command`, the function the agent calls, writing into a
  temporary directory, the camera URL on stdin as the agent hands it over). A window of 10 s
  (--quick 3 s) opens 2 s (0.5 s) after every output holds video: CPU (user + system, from /proc) and
  RSS are taken over it. The agent, with nothing to record, is measured in the same window: its idle
  cost;
- the agent: N sources in one group, one tag started with POST /api/v1/record. The recordings run
  15 s (4 s), the last 10 s (3 s) being the same window, which again opens no sooner than 2 s
  (0.5 s) after every record has video on disk and the agent's ffprobe runs on each new part are
  over; then the tag is stopped (PUT /api/v1/record) and every record must be `completed` with an
  MD5.

Starting N ffmpeg at once is a CPU burst (each decodes a little while probing the stream), after
which ffmpeg and the camera catch up for a while at ~1.7 times their steady CPU (on 2 cores ~15 s at
N=100). So in both phases the window also waits (at most 25 s, --quick 5 s) until, for 3 s in a row
(--quick 1 s), the measured ffmpeg each use 0.6 to 1.25 times what one bare ffmpeg used in the level
before (at the first two levels: until the machine is below 90 % busy, or this benchmark's
processes use less than half of it).

Per-stream overhead = (agent process CPU - its idle CPU + its ffmpeg CPU - the bare ffmpeg CPU) / N,
and the same for memory with the agent's RSS before any recording as its idle RSS. The ffmpeg sums are
RSS (as asked), which counts ffmpeg's shared libraries once per process; PSS, which splits them, is
shown for what the processes really take together.

The machine is not pushed over: before every step the free memory must stay at least 3 GiB after the
step's estimated need, and the ramp stops (saying why) when memory runs short, when streams do not
all get video within 60 s, when records are dropped, when the next level's CPU (ffmpeg, agent,
control plane, camera; extrapolated from the levels before) would exceed 90 % of the cores, or when
it would not end within the run's time budget (600 s, --quick 120 s; `--budget`), extrapolated likewise.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.ffmpeg.commands import record_command
from agent.files.layout import has_fragment, safe_tag
from agent.settings import AgentSettings
from bench.common import Stack, cpu_sample, markdown_table, ratio, running_stack, yes_no
from bench.record_common import (
    GIB,
    MIB,
    MachineCpu,
    Outcome,
    add_sources,
    add_to_group,
    cpu_seconds,
    make_group,
    mem_available_bytes,
    mib,
    outcome,
    pss_bytes,
    recorder_pids,
    rss_bytes,
    start_tag,
    stop_tag,
    wait_no_recorders,
    wait_only_recorders,
    wait_sources_placed,
)
from videorec_testing.processes import wait_until

LEVELS = (1, 10, 50, 100, 200)
QUICK_LEVELS = (1, 10, 50)
CAMERA = {"width": 1280, "height": 720, "fps": 25, "bitrate": 2000}
# No background probe may run an ffmpeg in a window (each source is probed once when it is placed);
# the default capacity (64 recordings per agent) would refuse the 100 and 200 levels.
AGENT_ENV = {"VIDEOREC_AGENT_PROBE_INTERVAL_S": "600", "VIDEOREC_AGENT_CAPACITY": "256"}
FFMPEG_BIN = AgentSettings.model_fields["ffmpeg_bin"].default  # what the agent runs, as in its default
GROUP = "overhead"
VIDEO_NOTICED = ": video arriving in part-"  # the agent's log line once a record's video is there


@dataclass(frozen=True)
class Timing:
    run_s: float  # streams run at least this long, from their start to the end of the window
    window_s: float  # the window is the end of the run
    settle_s: float  # and begins at least this long after the last stream got video,
    calm_cap_s: float  # and once the start-up is over (see settle()), waiting at most this long
    calm_samples: int  # that many seconds in a row


FULL = Timing(run_s=15.0, window_s=10.0, settle_s=2.0, calm_cap_s=25.0, calm_samples=3)
QUICK = Timing(run_s=4.0, window_s=3.0, settle_s=0.5, calm_cap_s=5.0, calm_samples=1)
# Starting N ffmpeg at once is a burst (each decodes a little while it probes the stream), after
# which ffmpeg and the camera catch up for a while (on 2 cores, ~15 s at N=100) at ~1.7 times their
# steady CPU. The window waits for its end: see settle().
CALM_RATIO = 1.25
CALM_LOW = 0.6  # below: ffmpeg is still starved by the start-up of the others
CALM_BUSY = 0.9
CALM_MINE = 0.5
CALM_SAMPLE_S = 1.0
CPU_FIT = 0.9  # a level whose projected CPU (of the machine's cores) is above this is not started
MEM_SAMPLE_S = 1.0
VIDEO_TIMEOUT_S = 60.0  # for every stream of a level to have video on disk
MIN_FREE = 3 * GIB
FIRST_GUESS_PER_STREAM = 64 * MIB  # before a level has been measured: ~an ffmpeg's RSS, generous
BUDGET_S, QUICK_BUDGET_S = 600.0, 120.0  # the whole run; a level that would not fit is not started
GUESS_S_PER_STREAM = 0.5  # starting, stopping: until two levels tell the real slope
GOAL_CPU_PCT = 0.1  # % of one core per stream
GOAL_MIB = 5.0  # per stream
GOAL_STREAMS = 200


class StopRamp(Exception):
    """This level cannot be run or finished on this machine; the message says why."""


@dataclass(frozen=True)
class Window:
    seconds: float
    agent_cpu_s: float  # the agent process itself
    agent_rss: float  # mean over the window
    ffmpeg_cpu_s: float  # sum over the measured ffmpeg processes
    ffmpeg_rss: float  # mean of the sums
    ffmpeg_pss: float  # sum at the end of the window
    processes: int
    exited: int  # measured ffmpeg processes that were gone at the end of the window
    settled_s: float  # from every stream having video to the window's opening
    calm: bool  # the start-up was over when the window opened (else `calm_cap_s` ran out)
    camera_cpu_s: float  # the test camera (its encoder and the RTSP fan-out to every client)
    cp_cpu_s: float  # the control plane (heartbeats, record reports)
    agent_other_cpu_s: float  # the agent's children that are not measured ffmpeg (e.g. ffprobe)
    busy: float  # fraction of all cores' time the machine was busy
    others_cpu_s: float  # CPU used by processes that are not this benchmark's (other work on the box)


@dataclass(frozen=True)
class Level:
    n: int
    bare: Window  # its agent_* fields: the idle agent next to the bare ffmpeg
    agent: Window
    to_video_s: float  # POST /record until every record had video on disk
    stop_s: float  # PUT /record (final files made and hashed)
    outcome: Outcome


def measure_window(
    stack: Stack, pids: list[int], seconds: float, settled: tuple[float, bool], *, agents_own: bool
) -> Window:
    """CPU and memory over `seconds`; `agents_own`: `pids` are the agent's children (not bare ffmpeg)."""
    agent_pid, camera_pid = stack.agent_pid, stack.camera.proc.pid if stack.camera.proc else 0
    machine0, mine0 = MachineCpu.now(), cpu_sample(os.getpid())
    started = time.monotonic()
    agent0, camera0 = cpu_sample(agent_pid), cpu_seconds(camera_pid) or 0.0
    cp0 = cpu_sample(stack.cp_pid).total
    cpu0 = {pid: cpu_seconds(pid) for pid in pids}
    agent_rss, ffmpeg_rss = [], []
    deadline = started + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(MEM_SAMPLE_S, left))
        agent_rss.append(rss_bytes(agent_pid))
        ffmpeg_rss.append(sum(rss_bytes(pid) for pid in pids))
    agent1, camera1 = cpu_sample(agent_pid), cpu_seconds(camera_pid) or 0.0
    cp1 = cpu_sample(stack.cp_pid).total
    cpu1 = {pid: cpu_seconds(pid) for pid in pids}
    elapsed = time.monotonic() - started
    busy = MachineCpu.now().busy_since(machine0)
    mine = (cpu_sample(os.getpid()) - mine0).total
    pss = sum(pss_bytes(pid) for pid in pids)
    alive = [pid for pid in pids if cpu0[pid] is not None and cpu1[pid] is not None]
    ffmpeg_cpu = sum((cpu1[p] or 0.0) - (cpu0[p] or 0.0) for p in alive)
    agent_children = agent1.children - agent0.children
    return Window(
        seconds=elapsed,
        agent_cpu_s=agent1.own - agent0.own,
        agent_rss=sum(agent_rss) / len(agent_rss),
        ffmpeg_cpu_s=ffmpeg_cpu,
        ffmpeg_rss=sum(ffmpeg_rss) / len(ffmpeg_rss),
        ffmpeg_pss=pss,
        processes=len(pids),
        exited=len(pids) - len(alive),
        settled_s=settled[0],
        calm=settled[1],
        camera_cpu_s=camera1 - camera0,
        cp_cpu_s=cp1 - cp0,
        agent_other_cpu_s=max(0.0, agent_children - (ffmpeg_cpu if agents_own else 0.0)),
        busy=busy,
        others_cpu_s=max(0.0, busy * (os.cpu_count() or 1) * elapsed - mine),
    )


def check_memory(what: str) -> None:
    free = mem_available_bytes()
    if free < MIN_FREE:
        raise StopRamp(f"{what}: only {free / GIB:.1f} GiB free (< {MIN_FREE / GIB:.0f} GiB)")


def wait_video(count: int, with_video: Callable[[], int], what: str) -> float:
    """Until `with_video()` reaches `count`; watches the free memory meanwhile."""
    started = time.monotonic()

    def done() -> bool:
        check_memory(what)
        return with_video() >= count

    try:
        wait_until(done, VIDEO_TIMEOUT_S, interval=0.2, what=what)
    except AssertionError:
        raise StopRamp(
            f"{what}: only {with_video()} of {count} streams had video after {VIDEO_TIMEOUT_S:g} s"
        ) from None
    return time.monotonic() - started


def settle(
    started: float, timing: Timing, run_s: float, pids: list[int], steady: float | None
) -> tuple[float, bool]:
    """Until the window may open, from now (every stream has video): `settle_s`, then until the
    start-up is over (at most `calm_cap_s`), and no sooner than `run_s - window_s` after `started`
    (time.monotonic() the streams were started). Returns how long it waited and whether it was calm.

    The start-up is over when for `calm_samples` seconds in a row the ffmpeg `pids` each use between
    CALM_LOW and CALM_RATIO times `steady` (a stream's CPU, in cores, in the bare window of the level
    before); at the first levels, which have no `steady`, when the machine is calm (below CALM_BUSY,
    or this benchmark's processes below CALM_MINE of it while other work keeps it busy)."""
    now = time.monotonic()
    time.sleep(timing.settle_s)
    give_up = time.monotonic() + timing.calm_cap_s
    cores = os.cpu_count() or 1
    calm_for = 0  # consecutive calm samples
    while calm_for < timing.calm_samples and time.monotonic() < give_up:
        machine, mine, before = MachineCpu.now(), cpu_sample(os.getpid()), time.monotonic()
        ffmpeg = [cpu_seconds(pid) or 0.0 for pid in pids]
        time.sleep(CALM_SAMPLE_S)
        elapsed = time.monotonic() - before
        if steady is not None:
            used = sum((cpu_seconds(pid) or 0.0) - was for pid, was in zip(pids, ffmpeg, strict=True))
            calm = CALM_LOW * steady <= used / elapsed / len(pids) <= CALM_RATIO * steady
        else:
            mine_used = (cpu_sample(os.getpid()) - mine).total
            busy = MachineCpu.now().busy_since(machine)
            calm = busy < CALM_BUSY or mine_used / elapsed < CALM_MINE * cores
        calm_for = calm_for + 1 if calm else 0
    time.sleep(max(0.0, started + run_s - timing.window_s - time.monotonic()))
    return time.monotonic() - now, calm_for >= timing.calm_samples


def run_bare(stack: Stack, n: int, timing: Timing, steady: float | None) -> Window:
    out_dir = stack.tmp / f"bare-{n}"
    out_dir.mkdir()
    outputs = [out_dir / f"bare-{i + 1}.mp4" for i in range(n)]
    procs: list[subprocess.Popen[bytes]] = []
    started = time.monotonic()
    with (stack.tmp / f"bare-{n}.log").open("ab") as log:
        try:
            for output in outputs:
                command = record_command(None, stack.camera.url, str(output), FFMPEG_BIN)
                proc = subprocess.Popen(
                    command.argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,  # as the agent starts its ffmpeg
                )
                procs.append(proc)
                assert proc.stdin is not None and command.stdin is not None  # the camera URL
                proc.stdin.write(command.stdin)
                proc.stdin.close()
            wait_video(n, lambda: sum(1 for o in outputs if has_fragment(o)), f"{n} bare ffmpeg")
            print(f"N={n}: {n} bare ffmpeg had video after {time.monotonic() - started:.1f} s", flush=True)
            pids = [p.pid for p in procs]
            settled = settle(started, timing, 0.0, pids, steady)  # need not run longer than its window
            return measure_window(stack, pids, timing.window_s, settled, agents_own=False)
        finally:
            stop_processes(procs)


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def records_with_video(stack: Stack, tag: str) -> int:
    tag_dir = stack.agent.storage / safe_tag(tag)
    return len({part.parent for part in tag_dir.glob("*/*.parts/part-*.mp4") if has_fragment(part)})


def run_agent(
    stack: Stack, n: int, timing: Timing, steady: float | None
) -> tuple[Window, float, float, Outcome]:
    tag = f"overhead-{n}"
    noticed = stack.agent.log().count(VIDEO_NOTICED)
    started = time.monotonic()
    start_tag(stack.cp, tag, GROUP)
    try:
        wait_video(n, lambda: records_with_video(stack, tag), f"{n} recordings")
        to_video = time.monotonic() - started
        # The agent notices the video (it polls the part), logs it, and probes the part a few times
        # while its first fragments arrive (the first frame's time): none of that may be measured.
        wait_until(
            lambda: stack.agent.log().count(VIDEO_NOTICED) >= noticed + n,
            30,
            interval=0.1,
            what="the agent to notice every record's video",
        )
        wait_only_recorders(stack.agent_pid, quiet_s=1.0)
        try:
            wait_until(lambda: len(recorder_pids(stack.agent_pid)) == n, 10, what="one ffmpeg per record")
        except AssertionError:
            found = len(recorder_pids(stack.agent_pid))
            raise StopRamp(f"{n} recordings: the agent runs {found} recording ffmpeg, not {n}") from None
        pids = recorder_pids(stack.agent_pid)
        settled = settle(started, timing, timing.run_s, pids, steady)
        measured = measure_window(stack, pids, timing.window_s, settled, agents_own=True)
    finally:
        stop_s = stop_tag(stack.cp, tag)
        wait_no_recorders([stack.agent_pid])
    return measured, to_video, stop_s, outcome(stack.cp, tag)


def extrapolate(seen: list[tuple[int, float]], n: int, first_slope: float) -> float:
    """The line through the last two (N, value) points at `n`; through the one point with
    `first_slope` after the first level; 0 before it."""
    if not seen:
        return 0.0
    n1, v1 = seen[-1]
    slope = first_slope if len(seen) == 1 else max(0.0, (v1 - seen[-2][1]) / (n1 - seen[-2][0]))
    return v1 + slope * (n - n1)


def recording_cpu(window: Window) -> float:
    """Cores busy with the recordings: their ffmpeg, the agent, the control plane and the camera."""
    used = window.ffmpeg_cpu_s + window.agent_cpu_s + window.agent_other_cpu_s + window.cp_cpu_s
    return (used + window.camera_cpu_s) / window.seconds


def measure(
    stack: Stack, levels: tuple[int, ...], timing: Timing, deadline: float
) -> tuple[list[Level], int, str | None]:
    """The levels that could be run, the idle agent's RSS and why the ramp stopped early (if it did).

    A level is not started when the free memory or the time left (`deadline`, time.monotonic()) would
    not do for it, estimated from the level before."""
    t0 = time.monotonic()
    ids = add_sources(stack.cp, stack.camera.url, max(levels))
    placed, probed = wait_sources_placed(stack.cp, ids, [stack.agent_pid], timeout=120)
    idle_rss = rss_bytes(stack.agent_pid)
    print(
        f"{len(ids)} sources placed ({placed}), {probed} probed, in {time.monotonic() - t0:.1f} s; "
        f"idle agent RSS {mib(idle_rss)} MiB",
        flush=True,
    )
    group_id = make_group(stack.cp, GROUP)
    in_group = 0
    per_stream = float(FIRST_GUESS_PER_STREAM)
    fixed = timing.run_s + timing.window_s + timing.settle_s  # what does not grow with N
    seen: list[tuple[int, float]] = []  # (N, seconds of a level beyond `fixed`): starts and stops
    cpu: list[tuple[int, float]] = []  # (N, cores busy with the recordings)
    steady: float | None = None  # one bare ffmpeg's CPU (cores) in the window of the level before
    cores = os.cpu_count() or 1
    done: list[Level] = []
    for n in levels:
        level_started = time.monotonic()
        try:
            expected = fixed + extrapolate(seen, n, GUESS_S_PER_STREAM)
            cpu_need = extrapolate(cpu, n, 0.0)  # a line needs two levels: the first two always run
            if len(cpu) >= 2 and cpu_need > CPU_FIT * cores:
                raise StopRamp(
                    f"{n} streams would keep ~{cpu_need:.1f} cores busy (ffmpeg, agent, control plane, "
                    f"test camera; extrapolated from N={cpu[-2][0]} and N={cpu[-1][0]}), more than "
                    f"{100 * CPU_FIT:.0f} % of the {cores} cores"
                )
            if level_started + expected > deadline:
                raise StopRamp(
                    f"{n} streams would take ~{expected:.0f} s, {deadline - level_started:.0f} s are left "
                    "of the time budget"
                )
            need = n * per_stream
            check_memory(f"before {n} streams")
            if mem_available_bytes() - need < MIN_FREE:
                raise StopRamp(
                    f"{n} streams would need ~{need / GIB:.1f} GiB, leaving less than "
                    f"{MIN_FREE / GIB:.0f} GiB of the {mem_available_bytes() / GIB:.1f} GiB free"
                )
            bare = run_bare(stack, n, timing, steady)
            add_to_group(stack.cp, group_id, ids[in_group:n])
            in_group = n
            check_memory(f"before {n} recordings")
            agent, to_video, stop_s, result = run_agent(stack, n, timing, steady)
        except StopRamp as exc:
            return done, idle_rss, str(exc)
        level = Level(n, bare, agent, to_video, stop_s, result)
        done.append(level)
        level_s = time.monotonic() - level_started
        seen.append((n, level_s - fixed))
        if n >= 10:  # one process's CPU in a short window is a few clock ticks: too coarse
            steady = bare.ffmpeg_cpu_s / bare.seconds / n
        cpu.append((n, recording_cpu(agent)))
        print(
            f"N={n}: {level_s:.1f} s; video after {to_video:.1f} s, stop {stop_s:.1f} s, "
            f"{result.completed}/{result.total} completed with MD5, machine {100 * agent.busy:.0f} % busy",
            flush=True,
        )
        growth = max(0.0, agent.agent_rss - idle_rss) + agent.ffmpeg_pss
        per_stream = max(growth / n * 1.5, 8 * MIB)
        if result.dropped:
            return done, idle_rss, f"{result.dropped} of {n} records dropped at N={n}: {result.errors[:3]}"
    return done, idle_rss, None


def settled(window: Window) -> str:
    return f"{window.settled_s:.1f}" + ("" if window.calm else " (busy)")


def pct(cpu_s: float, seconds: float) -> str:
    return f"{100 * cpu_s / seconds:.1f}"


@dataclass(frozen=True)
class Overhead:
    cpu_pct: float  # % of one core per stream
    agent_cpu_pct: float
    ffmpeg_cpu_pct: float
    mib: float  # per stream
    agent_mib: float
    ffmpeg_mib: float


def overhead(level: Level, idle_rss: int) -> Overhead:
    a, b, n = level.agent, level.bare, level.n
    agent_cpu = 100 * (a.agent_cpu_s / a.seconds - b.agent_cpu_s / b.seconds) / n
    ffmpeg_cpu = 100 * (a.ffmpeg_cpu_s / a.seconds - b.ffmpeg_cpu_s / b.seconds) / n
    agent_mem = (a.agent_rss - idle_rss) / MIB / n
    ffmpeg_mem = (a.ffmpeg_rss - b.ffmpeg_rss) / MIB / n
    return Overhead(
        agent_cpu + ffmpeg_cpu, agent_cpu, ffmpeg_cpu, agent_mem + ffmpeg_mem, agent_mem, ffmpeg_mem
    )


def report(levels: list[Level], idle_rss: int, stopped: str | None, window: float) -> None:
    cores = os.cpu_count() or 1
    rows = []
    for lv in levels:
        a, b = lv.agent, lv.bare
        rows.append(
            [
                lv.n,
                pct(b.ffmpeg_cpu_s, b.seconds),
                pct(a.ffmpeg_cpu_s, a.seconds),
                ratio(a.ffmpeg_cpu_s / a.seconds, b.ffmpeg_cpu_s / b.seconds),
                f"{pct(b.agent_cpu_s, b.seconds)} → {pct(a.agent_cpu_s, a.seconds)}",
                f"**{ratio((a.ffmpeg_cpu_s + a.agent_cpu_s) / a.seconds, b.ffmpeg_cpu_s / b.seconds)}**",
                f"{mib(b.ffmpeg_rss)} ({mib(b.ffmpeg_pss)})",
                f"{mib(a.ffmpeg_rss)} ({mib(a.ffmpeg_pss)})",
                mib(a.agent_rss),
                f"{pct(b.camera_cpu_s, b.seconds)} / {pct(a.camera_cpu_s, a.seconds)}",
                f"{pct(b.cp_cpu_s, b.seconds)} / {pct(a.cp_cpu_s, a.seconds)}",
                f"{pct(a.agent_other_cpu_s, a.seconds)}",
                f"{100 * b.busy:.0f} / {100 * a.busy:.0f} %",
                f"{pct(b.others_cpu_s, b.seconds)} / {pct(a.others_cpu_s, a.seconds)}",
            ]
        )
    headers = [
        "N",
        "bare ffmpeg CPU % (sum)",
        "agent's ffmpeg CPU % (sum)",
        "agent's ffmpeg vs bare",
        "agent process CPU %, idle → N",
        "agent + its ffmpeg vs bare",
        "bare ffmpeg RSS (PSS) MiB",
        "agent's ffmpeg RSS (PSS) MiB",
        "agent process RSS MiB",
        "test camera CPU %, bare / agent",
        "control plane CPU %, bare / agent",
        "agent's other children CPU %",
        f"machine busy, bare / agent (of {cores} cores)",
        "others' CPU % on the box, bare / agent",
    ]
    print(
        f"CPU in % of one core over a {window:g} s window (sums over processes); idle agent RSS "
        f"{mib(idle_rss)} MiB; `idle` = the agent next to the bare ffmpeg, recording nothing\n"
    )
    print(markdown_table(headers, rows, align="r" * len(headers)))
    print()
    rows = []
    for lv in levels:
        o, r = overhead(lv, idle_rss), lv.outcome
        rows.append(
            [
                lv.n,
                f"{o.agent_cpu_pct:.3f}",
                f"{o.ffmpeg_cpu_pct:+.3f}",
                f"**{o.cpu_pct:.3f}**",
                f"{o.agent_mib:.2f}",
                f"{o.ffmpeg_mib:+.2f}",
                f"**{o.mib:.2f}**",
                f"{lv.to_video_s:.1f}",
                f"{settled(lv.bare)} / {settled(lv.agent)}",
                f"{lv.stop_s:.1f}",
                f"{r.completed} / {r.total}",
                r.dropped,
                r.with_gaps,
                f"{r.min_duration_s:.1f}" if r.min_duration_s is not None else "-",
            ]
        )
    headers = [
        "N",
        "agent process CPU %/stream",
        "agent's ffmpeg vs bare CPU %/stream",
        "overhead CPU %/stream",
        "agent process MiB/stream",
        "agent's ffmpeg vs bare MiB/stream",
        "overhead MiB/stream",
        "start → all video s",
        "all video → window, bare / agent s",
        "stop s",
        "completed with MD5",
        "dropped / failed",
        "with gaps",
        "shortest record s",
    ]
    print(markdown_table(headers, rows, align="r" * len(headers)))
    print()
    if any(not w.calm for lv in levels for w in (lv.bare, lv.agent)):
        print(
            "(busy): the start-up was not over (see the docstring) when the window opened, after "
            "the longest wait allowed\n"
        )
    for lv in levels:
        for name, w in (("bare", lv.bare), ("agent's", lv.agent)):
            if w.exited:
                print(f"N={lv.n}: {w.exited} of {w.processes} {name} ffmpeg exited during the window\n")
    if stopped:
        print(f"ramp stopped early: {stopped}\n")
    if not levels:
        print("no level could be measured")
        return
    top = levels[-1]
    o = overhead(top, idle_rss)
    clean = [lv.n for lv in levels if not lv.outcome.dropped and lv.outcome.total == lv.n]
    most = max(clean, default=0)
    goals = [
        [
            f"agent CPU overhead per stream at N={top.n}",
            f"≤ {GOAL_CPU_PCT:g} % of a core",
            f"{o.cpu_pct:.3f} %",
            yes_no(o.cpu_pct <= GOAL_CPU_PCT),
        ],
        [
            f"agent memory overhead per stream at N={top.n}",
            f"≤ {GOAL_MIB:g} MiB",
            f"{o.mib:.2f} MiB",
            yes_no(o.mib <= GOAL_MIB),
        ],
        [
            "streams recorded at once, none dropped",
            f"{GOAL_STREAMS}",
            f"{most}" + ("" if GOAL_STREAMS in {lv.n for lv in levels} or most else " (not run)"),
            yes_no(most >= GOAL_STREAMS),
        ],
    ]
    print(markdown_table(["goal", "target", "measured", "met"], goals, align="lrrl"))


def main() -> None:
    global VIDEO_TIMEOUT_S  # noqa: PLW0603 - a command-line override of the module's default
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1, 10, 50 and a shorter window")
    parser.add_argument("--levels", help="the N to run, e.g. 100,200 (default: 1,10,50,100,200)")
    parser.add_argument("--budget", type=float, help=f"seconds for the whole ramp (default {BUDGET_S:g})")
    parser.add_argument(
        "--video-timeout",
        type=float,
        help=f"seconds for every stream of a level to have video (default {VIDEO_TIMEOUT_S:g}); a loaded "
        "machine needs more at N=200",
    )
    args = parser.parse_args()
    levels = QUICK_LEVELS if args.quick else LEVELS
    if args.levels:
        levels = tuple(int(n) for n in args.levels.split(","))
    if args.video_timeout:
        VIDEO_TIMEOUT_S = args.video_timeout
    timing = QUICK if args.quick else FULL
    started = time.monotonic()
    deadline = started + (args.budget or (QUICK_BUDGET_S if args.quick else BUDGET_S))
    with running_stack(camera=CAMERA, agent_env=AGENT_ENV) as stack:
        print(
            f"stack up in {time.monotonic() - started:.1f} s; camera {stack.camera.url} {CAMERA}; "
            f"{os.cpu_count()} CPUs, {mem_available_bytes() / GIB:.1f} GiB free; levels {levels}, "
            f"each level runs ≥ {timing.run_s:g} s, the last {timing.window_s:g} s measured\n",
            flush=True,
        )
        results, idle_rss, stopped = measure(stack, levels, timing, deadline)
    report(results, idle_rss, stopped, timing.window_s)
    print(f"\nwhole run (start-up, measurements, shutdown): {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
