"""Group start latency: POST /api/v1/record for a group of 100 sources spread over 4 agents, until
every record is `recording`, against a single-source group.

    .venv/bin/python bench/group_start.py [--quick] [--ffmpeg PATH]

One RTSP test camera (640x360, 15 fps, 800 kbit/s, one shared encoder), one control plane, four
agent processes. 101 sources all point at the camera; the control plane places them on the agents
(the agent with the fewest sources first, so 25 or 26 each). Group "start-100" holds 100 of them,
group "start-1" the last one.

A run: POST /api/v1/record {tag, group} with a new tag, then GET /api/v1/record?tag_name=... every
20 ms until every record of the tag is `recording`: that time, from before the POST, is the figure
(the POST's own answer time is shown too). For context the run then waits until every record has
video on disk (the agent's part file holds a fragment; this reads the agents' storage directly) and
stops the tag (PUT /api/v1/record, which returns once every final file is made and hashed). 5 runs
(--quick 2) of each group, alternating which goes first; the single-source group is the baseline.
--quick stops each run as soon as every record is `recording`, without waiting for video: its
records then end `failed` ("no video was received"), which is expected there.
A record that fails to start (e.g. its agent is offline) makes its run "never" reach the goal.

A record is `recording` in the POST's answer once its ffmpeg has opened the camera (its file exists:
ffmpeg creates its output only after the input is open and every stream's codecs are known). With
the agent's fast open that is ~0.3 s for one camera; the first fragment follows when the camera's
next keyframe has come and the fragment's second is full (the "all video on disk" column; with
ffmpeg's full probing both came together after ~2 s, the probed packets written at once). The floor of the figure is what ffmpeg itself needs on
this machine: each run also starts 100 bare ffmpeg from this script with the agent's argv
(`record_command`) and the same camera, and times until every output exists and until every output
holds a fragment (the "bare ffmpeg ×100" row, measured in the same run).

--ffmpeg runs another ffmpeg build, in the agents and for the bare ffmpeg alike (e.g. a static one:
Debian's ffmpeg loads ~215 shared libraries, ~85 ms of CPU before it does anything).

The control plane runs with its own liveness defaults (heartbeat every 2 s, an agent is offline
after 7 s without one) rather than the end-to-end tests' 0.5 s / 3 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import contextlib
import math
import os
import statistics
import subprocess
import time
from dataclasses import dataclass

from agent.ffmpeg.commands import record_command
from agent.files.layout import has_fragment
from agent.settings import AgentSettings
from bench.common import markdown_table, percentile, ratio, yes_no
from bench.record_common import (
    Cluster,
    Outcome,
    add_sources,
    has_video,
    make_group,
    outcome,
    records,
    running_cluster,
    start_tag,
    stop_tag,
    wait_no_recorders,
    wait_sources_placed,
)
from videorec_testing.processes import wait_until

N_AGENTS = 4
N_SOURCES = 100
RUNS, QUICK_RUNS = 5, 2
CAMERA = {"width": 640, "height": 360, "fps": 15, "bitrate": 800}
# No background probe may run next to a start (each source is probed once when it is placed).
AGENT_ENV = {"VIDEOREC_AGENT_PROBE_INTERVAL_S": "600"}
# The control plane's own defaults for agent liveness (heartbeat every 2 s, offline after 7 s), not
# the end-to-end tests' 0.5 s / 3 s: a start must not find an agent "offline" because a busy machine
# delayed one of its heartbeats by a few seconds.
# Failover is off (as in the tests): on a loaded machine a heartbeat late by 5 s during a start of 100
# ffmpeg made the control plane continue an agent's records elsewhere, which is not what is measured.
CP_ENV = {
    "VIDEOREC_HEARTBEAT_INTERVAL_S": "2",
    "VIDEOREC_AGENT_OFFLINE_AFTER_S": "7",
    "VIDEOREC_FAILOVER_AFTER_S": "120",
}
FFMPEG_BIN = AgentSettings.model_fields["ffmpeg_bin"].default  # what the agent runs, as in its default
POLL_S = 0.02
RECORDING_TIMEOUT_S = 30.0
VIDEO_TIMEOUT_S = 60.0
GOAL_P95_S = 2.0


@dataclass(frozen=True)
class Run:
    post_s: float  # the POST's answer
    recording_s: float  # POST sent → a GET shows every record `recording` (inf: not all of them did)
    not_recording: int  # records that never became `recording` (failed to start)
    video_s: float  # POST sent → every record has video on disk (inf: not within the time-out)
    stop_s: float
    outcome: Outcome


def one_run(cluster: Cluster, tag: str, group: str, n: int, wait_video: bool) -> Run:
    cp = cluster.cp
    recording_s = video_s = math.inf
    with cp.client(timeout=120) as client:  # one connection: the polls measure the API, not set-up
        started = time.perf_counter()
        try:
            post_s = start_tag(cp, tag, group, client)
            # Until no record is `pending` any more: then each is `recording` or has failed to start.
            deadline = started + RECORDING_TIMEOUT_S
            while True:
                rows = records(cp, tag, client)
                now = time.perf_counter()
                if len(rows) == n and all(r["status"] == "recording" for r in rows):
                    recording_s = now - started
                    break
                if len(rows) == n and all(r["status"] != "pending" for r in rows) or now > deadline:
                    break
                time.sleep(POLL_S)
            recording = [r for r in rows if r["status"] == "recording"]
            if wait_video:
                with contextlib.suppress(AssertionError):
                    wait_until(
                        lambda: all(has_video(r, cluster.agents) for r in recording),
                        VIDEO_TIMEOUT_S,
                        interval=0.1,
                    )
                    video_s = time.perf_counter() - started
        finally:
            stop_s = stop_tag(cp, tag)
            wait_no_recorders(cluster.agent_pids())
    return Run(post_s, recording_s, n - len(recording), video_s, stop_s, outcome(cp, tag))


def measure(cluster: Cluster, runs: int, wait_video: bool, ffmpeg_bin: str) -> dict[int, list[Run]]:
    t0 = time.monotonic()
    ids = add_sources(cluster.cp, cluster.camera.url, N_SOURCES + 1)
    placed, probed = wait_sources_placed(cluster.cp, ids, cluster.agent_pids(), timeout=120)
    print(
        f"{len(ids)} sources placed {placed}, {probed} probed, in {time.monotonic() - t0:.1f} s\n",
        flush=True,
    )
    make_group(cluster.cp, f"start-{N_SOURCES}", ids[:N_SOURCES])
    make_group(cluster.cp, "start-1", ids[N_SOURCES:])
    results: dict[int, list[Run]] = {1: [], N_SOURCES: []}
    bare: list[Run] = []
    for i in range(runs):
        for n in (1, N_SOURCES) if i % 2 == 0 else (N_SOURCES, 1):
            run = one_run(cluster, f"start-{n}-run-{i + 1}", f"start-{n}", n, wait_video)
            results[n].append(run)
            video = f"video after {sec(run.video_s)} s" if wait_video else "video not waited for"
            print(
                f"run {i + 1}, {n} source(s): all recording after {ms(run.recording_s)} ms "
                f"(POST {ms(run.post_s)} ms; {run.not_recording} did not start), {video}, "
                f"stop {run.stop_s:.1f} s, {run.outcome.completed}/{run.outcome.total} completed",
                flush=True,
            )
        bare.append(bare_run(cluster, N_SOURCES, i + 1, ffmpeg_bin))
        print(
            f"run {i + 1}, {N_SOURCES} bare ffmpeg: all outputs exist after {ms(bare[-1].recording_s)} ms, "
            f"all hold a fragment after {ms(bare[-1].video_s)} ms",
            flush=True,
        )
    results[BARE] = bare
    return results


BARE = -N_SOURCES  # the key of the bare-ffmpeg runs in the results


def bare_run(cluster: Cluster, n: int, run: int, ffmpeg_bin: str) -> Run:
    """`n` ffmpeg started from here with the agent's argv: until every output exists (`recording_s`)
    and holds a fragment (`video_s`)."""
    out = cluster.tmp / f"bare-{run}"
    out.mkdir()
    outputs = [out / f"bare-{i + 1}.mp4" for i in range(n)]
    procs: list[subprocess.Popen[bytes]] = []
    opened_s = video_s = math.inf
    started = time.perf_counter()
    try:
        for output in outputs:
            command = record_command(None, cluster.camera.url, str(output), ffmpeg_bin)
            proc = subprocess.Popen(
                command.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            procs.append(proc)
            assert proc.stdin is not None and command.stdin is not None
            proc.stdin.write(command.stdin)
            proc.stdin.close()
        deadline = started + RECORDING_TIMEOUT_S
        while time.perf_counter() < deadline and not math.isfinite(video_s):
            if not math.isfinite(opened_s) and all(o.exists() for o in outputs):
                opened_s = time.perf_counter() - started
            if all(has_fragment(o) for o in outputs):
                video_s = time.perf_counter() - started
            time.sleep(POLL_S)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
    return Run(0.0, opened_s, 0, video_s, 0.0, Outcome(n, 0, 0, 0, None))


def percentile_or_inf(values: list[float], p: float) -> float:
    """`percentile`, where a run that never got there (inf) counts as slower than any other."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), min(math.floor(rank) + 1, len(ordered) - 1)
    if math.isinf(ordered[low]) or (rank > low and math.isinf(ordered[high])):
        return math.inf
    return percentile(ordered, p)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}" if math.isfinite(seconds) else "never"


def sec(seconds: float) -> str:
    return f"{seconds:.1f}" if math.isfinite(seconds) else "never"


def report(results: dict[int, list[Run]], waited_video: bool) -> None:
    base = results[1]
    base_p50 = percentile_or_inf([r.recording_s for r in base], 50)
    base_p95 = percentile_or_inf([r.recording_s for r in base], 95)
    rows = []
    for n, runs in results.items():
        bare_row = n == BARE
        recording = [r.recording_s for r in runs]
        post = [r.post_s for r in runs]
        video = [r.video_s for r in runs]
        p50, p95 = percentile_or_inf(recording, 50), percentile_or_inf(recording, 95)
        name = {1: "1 source (baseline)", BARE: f"bare ffmpeg ×{N_SOURCES} (floor), outputs exist"}.get(
            n, f"{n} sources over {N_AGENTS} agents"
        )
        rows.append(
            [
                name,
                len(runs),
                ms(p50),
                ms(p95),
                ms(max(recording)),
                ratio(p50, base_p50),
                ratio(p95, base_p95),
                f"{ms(percentile_or_inf(post, 50))} / {ms(percentile_or_inf(post, 95))}",
                f"{sec(percentile_or_inf(video, 50))} / {sec(percentile_or_inf(video, 95))}"
                if waited_video
                else "not waited for (--quick)",
                "-" if bare_row else sum(r.not_recording for r in runs),
                "-" if bare_row else f"{statistics.median(r.stop_s for r in runs):.1f}",
                f"{sum(r.outcome.completed for r in runs)} / {sum(r.outcome.total for r in runs)}"
                if waited_video and not bare_row
                else "-",
            ]
        )
    headers = [
        "group",
        "runs",
        "all `recording` p50 ms",
        "p95 ms",
        "max ms",
        "p50 vs 1 source",
        "p95 vs 1 source",
        "POST answer p50 / p95 ms",
        "all video on disk p50 / p95 s",
        "records that did not start",
        "stop (final files) median s",
        "records completed with MD5",
    ]
    print(markdown_table(headers, rows))
    print()
    p95 = percentile_or_inf([r.recording_s for r in results[N_SOURCES]], 95)
    goals = [
        [
            f"{N_SOURCES} sources over {N_AGENTS} agents: POST → every record `recording`, p95",
            f"≤ {GOAL_P95_S:g} s",
            f"{p95:.2f} s" if math.isfinite(p95) else "not all started",
            yes_no(p95 <= GOAL_P95_S),
        ]
    ]
    floor = percentile_or_inf([r.recording_s for r in results[BARE]], 95)
    goals.append(
        [
            f"the same vs {N_SOURCES} bare ffmpeg until every output exists (this machine's floor), p95",
            "",
            f"{ratio(p95, floor)} ({p95:.2f} s vs {floor:.2f} s)",
            "",
        ]
    )
    print(markdown_table(["goal", "target", "measured", "met"], goals, align="lrrl"))
    errors = sorted({e for runs in results.values() for r in runs for e in r.outcome.errors})
    if errors and waited_video:
        print(f"\nrecords that did not complete: {errors[:5]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_RUNS} runs of each group, each stopped as soon as all are `recording`",
    )
    parser.add_argument("--ffmpeg", default=FFMPEG_BIN, help="the ffmpeg the agents and the bare runs use")
    args = parser.parse_args()
    runs = QUICK_RUNS if args.quick else RUNS
    started = time.monotonic()
    load = os.getloadavg()
    agent_env = AGENT_ENV | {"VIDEOREC_AGENT_FFMPEG_BIN": args.ffmpeg}
    with running_cluster(N_AGENTS, camera=CAMERA, cp_env=CP_ENV, agent_env=agent_env) as cluster:
        print(
            f"stack up in {time.monotonic() - started:.1f} s: camera {cluster.camera.url} {CAMERA}, "
            f"{N_AGENTS} agents, ffmpeg {args.ffmpeg}; {runs} runs per group\n",
            flush=True,
        )
        results = measure(cluster, runs, wait_video=not args.quick, ffmpeg_bin=args.ffmpeg)
    print()
    report(results, waited_video=not args.quick)
    print(f"\nwhole run (start-up, measurements, shutdown): {time.monotonic() - started:.1f} s")
    print(f"load average before / after: {load[0]:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
