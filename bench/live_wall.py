"""Live video: camera sessions, agent CPU, first frame, delivery delay and frames shown in Chromium.

    .venv/bin/python bench/live_wall.py [--cameras 4] [--window 10]

One RTSP test camera (640x360, 25 fps, a keyframe a second) is added `--cameras` times as sources of
one group (each source is a camera to the agent: its own session), with an API token (token mode,
as deployed). Measured, each over the same `--window`:

1. baseline: bare `ffmpeg -c copy` of each source to /dev/null (what reading the cameras costs);
2. recording alone: the group recorded under a tag (agent CPU with its children);
3. recording + live: the same, each source also watched live through `stream.mp4`;
4. camera sessions per source (a separate camera, so that its client count is this source's):
   3 live viewers + an MJPEG viewer + snapshots, without and with a recording;
5. Chromium: a 16-tile wall (the sources repeated) over the console's WebSocket: first frame after
   the tile opened, frames shown per tile per second (requestVideoFrameCallback), delivery delay
   (arrival in the browser − the fragment's prft, written by the agent's ffmpeg when it cut the
   fragment: it leaves out the ≤ 200 ms the fragment spans and the camera's own latency).

Bounded: a few windows of `--window` seconds and at most 16 sources. The box may be shared: the
figures of one run are comparable with each other, not with another box's.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import contextlib
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import playwright.sync_api as sync_api

from agent.files.fmp4_stream import Splitter
from bench.common import cpu_sample, markdown_table, percentile, ratio, workspace
from shared.media_fanout import Fragment
from videorec_testing.browser import CHROMIUM, CHROMIUM_ARGS
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.processes import ControlPlane
from videorec_testing.records import make_group
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until

TOKEN = "bench-live-token"
CAMERA = {"width": 640, "height": 360, "fps": 25, "bitrate": 800}
TILES = 16
AGENT_ENV = {"VIDEOREC_AGENT_PROBE_INTERVAL_S": "600"}  # no probe in a window


def cpu_of(pids: Callable[[], list[int]], seconds: float) -> float:
    """CPU seconds (with children) of the processes `pids()` names, over `seconds`."""
    before = {pid: cpu_sample(pid).total for pid in pids()}
    time.sleep(seconds)
    after = {pid: cpu_sample(pid).total for pid in pids()}
    return sum(after[p] - before[p] for p in after if p in before)


@contextlib.contextmanager
def bare_copies(urls: list[str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [
        subprocess.Popen(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-rtsp_transport",
                "tcp",
                "-i",
                url,
                "-c",
                "copy",
                "-f",
                "null",
                "/dev/null",
            ]
        )
        for url in urls
    ]
    try:
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


@contextlib.contextmanager
def stream_viewers(cp: ControlPlane, source_ids: list[int]) -> Iterator[list[int]]:
    """One `stream.mp4` reader per source (threads); yields the video frames each has received."""
    stop, counts = threading.Event(), [0] * len(source_ids)

    def read(index: int, source_id: int) -> None:
        splitter = Splitter()
        with cp.client() as c, c.stream("GET", f"/api/v1/source/{source_id}/stream.mp4") as r:
            for chunk in r.iter_raw():
                counts[index] += sum(i.samples for i in splitter.feed(chunk) if isinstance(i, Fragment))
                if stop.is_set():
                    return

    threads = [threading.Thread(target=read, args=(i, s), daemon=True) for i, s in enumerate(source_ids)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: all(counts), 60, what="every stream to deliver")
        yield counts
    finally:
        stop.set()
        for t in threads:
            t.join(15)


@contextlib.contextmanager
def mjpeg_viewer(cp: ControlPlane, source_id: int) -> Iterator[list[int]]:
    stop, count = threading.Event(), [0]

    def read() -> None:
        with cp.client() as c, c.stream("GET", f"/api/v1/source/{source_id}/video?delay=0.2") as r:
            for chunk in r.iter_raw():
                count[0] += len(chunk)
                if stop.is_set():
                    return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        wait_until(lambda: count[0] > 0, 60, what="MJPEG frames")
        yield count
    finally:
        stop.set()
        thread.join(15)


def sessions_per_source(cp: ControlPlane, tmp: Path, recorded: bool, tag: str) -> int:
    """RTSP sessions playing at a camera of its own while 3 live viewers, MJPEG and snapshots watch it."""
    with start_rtsp_camera(**CAMERA, log_dir=tmp) as cam:
        (source_id,) = make_group(cp, f"sessions-{tag}", [{"model": "Source", "uri_rtsp": cam.url}])
        if recorded:
            with cp.client() as c:
                c.post(
                    "/api/v1/record", json={"tag_name": tag, "group_name": f"sessions-{tag}"}
                ).raise_for_status()
            wait_until(lambda: cam.playing() >= 1, 30, what="the recording's session")
        try:
            with stream_viewers(cp, [source_id] * 3), mjpeg_viewer(cp, source_id), cp.client() as c:
                for _ in range(3):
                    c.get(f"/api/v1/source/{source_id}/picture").raise_for_status()
                time.sleep(2)
                return cam.playing()
        finally:
            if recorded:
                with cp.client(timeout=60) as c:
                    c.put("/api/v1/record", json={"tag_name": tag})


def browser_wall(cp: ControlPlane, source_ids: list[int], window: float, tiles: int) -> dict[str, float]:
    ids = [source_ids[i % len(source_ids)] for i in range(tiles)]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.add_init_script(f"sessionStorage.setItem('videorec.token', {TOKEN!r})")
            page.goto(f"{cp.url}/#/live/" + ",".join(map(str, ids)))
            js = "() => [...document.querySelectorAll('.live-tile')].map(t => ({...t.liveStats}))"
            wait_until(lambda: all(s["frames"] > 0 for s in page.evaluate(js)), 60, what="every tile to play")
            page.wait_for_timeout(2000)
            before = page.evaluate(js)
            page.wait_for_timeout(window * 1000)
            after = page.evaluate(js)
        finally:
            browser.close()
    fps = [(b["frames"] - a["frames"]) / window for a, b in zip(before, after, strict=True)]
    delays = [d for s in after for d in s["delays"]]
    firsts = [s["firstFrameMs"] / 1000 for s in after]
    return {
        "tiles": len(after),
        "fps_min": min(fps),
        "fps_median": statistics.median(fps),
        "first_median": statistics.median(firsts),
        "first_max": max(firsts),
        "delay_p50": percentile(delays, 50),
        "delay_p95": percentile(delays, 95),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4, choices=range(1, 17), metavar="1-16")
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args()
    n, window = args.cameras, args.window
    with workspace() as (tmp, stop):
        cam: RtspCamera = start_rtsp_camera(**CAMERA, log_dir=tmp)
        stop.callback(cam.stop)
        stack = stop.enter_context(
            start_stack(tmp, agents=["bench-agent"], agent_env=AGENT_ENV, api_token=TOKEN)
        )
        cp, agent = stack.cp, stack.agent
        assert agent.proc is not None
        agent_pid = agent.proc.pid
        source_ids = make_group(cp, "wall", [{"model": "Source", "uri_rtsp": cam.url} for _ in range(n)])

        with bare_copies([cam.url] * n) as procs:
            time.sleep(2)
            bare = cpu_of(lambda: [p.pid for p in procs], window)
        with cp.client() as c:
            c.post("/api/v1/record", json={"tag_name": "bench-live", "group_name": "wall"}).raise_for_status()
        wait_until(lambda: cam.playing() >= n, 60, what="every recording's session")
        time.sleep(3)
        recording = cpu_of(lambda: [agent_pid], window)
        with stream_viewers(cp, source_ids) as frames:
            time.sleep(2)
            frames_before = sum(frames)
            watched = cpu_of(lambda: [agent_pid], window)
            delivered_fps = (sum(frames) - frames_before) / window / n
            sessions_recorded_and_watched = cam.playing() / n
        walls = {tiles: browser_wall(cp, source_ids, window, tiles) for tiles in (TILES, 4)}
        with cp.client(timeout=120) as c:
            c.put("/api/v1/record", json={"tag_name": "bench-live"})
        live_only = sessions_per_source(cp, tmp, recorded=False, tag="sessions-live")
        with_record = sessions_per_source(cp, tmp, recorded=True, tag="sessions-rec")

    print(
        f"\n{n} sources of one 640x360 25 fps H.264 camera, window {window:g} s, token mode; box shared ({os.cpu_count()} cores)\n"
    )
    print(
        markdown_table(
            ["", "agent CPU (with children), % of a core", "vs bare copy", "vs recording alone"],
            [
                [f"bare `ffmpeg -c copy` × {n} (baseline)", f"{100 * bare / window:.1f}", "1.00×", ""],
                [f"recording {n}", f"{100 * recording / window:.1f}", ratio(recording, bare), "1.00×"],
                [
                    f"recording {n} + each watched live (stream.mp4)",
                    f"{100 * watched / window:.1f}",
                    ratio(watched, bare),
                    ratio(watched, recording),
                ],
            ],
        )
    )
    print()
    print(
        markdown_table(
            ["camera (RTSP) sessions per source", "count"],
            [
                ["3 live viewers + MJPEG + 3 snapshots", live_only],
                ["the same while recording", with_record],
                [f"{n} sources recorded and each watched live", f"{sessions_recorded_and_watched:g}"],
            ],
        )
    )
    print()
    rows = [
        ["the camera's frames per second, as stream.mp4 delivers them", f"{delivered_fps:.1f}"]
        + [""] * (len(walls) - 1)
    ]
    order = sorted(walls, reverse=True)
    rows.append(
        [
            "frames shown per tile, min / median (fps)",
            *(f"{walls[t]['fps_min']:.1f} / {walls[t]['fps_median']:.1f}" for t in order),
        ]
    )
    rows.append(
        [
            "first frame after the tile opened, median / max (s)",
            *(f"{walls[t]['first_median']:.2f} / {walls[t]['first_max']:.2f}" for t in order),
        ]
    )
    rows.append(
        [
            "delivery delay (arrival − prft), p50 / p95 (s)",
            *(f"{walls[t]['delay_p50']:.3f} / {walls[t]['delay_p95']:.3f}" for t in order),
        ]
    )
    print(markdown_table(["Chromium (WebSocket, MSE), token mode", *(f"{t} tiles" for t in order)], rows))


if __name__ == "__main__":
    main()
