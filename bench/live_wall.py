"""Live video: camera sessions, agent CPU, first frame, delivery delay and frames shown in Chromium.

    .venv/bin/python bench/live_wall.py [--cameras 4] [--window 10] [--rounds 3] [--wall-only | --cpu-only]

One RTSP test camera (640x360, 25 fps, a keyframe a second) is added `--cameras` times as sources of
one group (each source is a camera to the agent: its own session), with an API token (token mode,
as deployed). Measured, each over the same `--window`:

1. baseline: bare `ffmpeg -c copy` of each source to /dev/null (what reading the cameras costs);
2. recording alone: the group recorded under a tag (agent CPU with its children, and alone);
3. recording + live: the same, each source also watched live through `stream.mp4` (2 and 3
   alternated `--rounds` times, medians: one window swings by about what the viewers add);
4. camera sessions per source (a separate camera, so that its client count is this source's):
   3 live viewers + an MJPEG viewer + snapshots, without and with a recording;
5. Chromium, the sources recorded: a 16-tile wall (each source once, repeated when there are fewer)
   over the console's WebSocket, opened on cold camera sessions and at once again (warm), and 4
   tiles; against a baseline of the same camera's video played from a file in 16 plain <video>
   tiles of the same size, before and after them (the box's load drifts). Per wall: frames shown
   per tile per second (requestVideoFrameCallback), stalls, frames dropped, first frame after the
   tile opened, delivery delay (arrival in the browser − the fragment's prft: the camera's capture
   time of its first frame, so it includes the ≤ 200 ms the fragment spans), how far the picture is
   behind the newest frame received, Chromium's CPU and the load average. `--wall-only`: just this;
   `--cpu-only`: 1-3 only.

Bounded: a few windows of `--window` seconds and at most 16 sources. The box may be shared: the
figures of one run are comparable with each other, not with another box's.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import contextlib
import functools
import http.server
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import playwright.sync_api as sync_api

from agent.files.fmp4_stream import Splitter
from bench.common import CLK_TCK, cpu_sample, markdown_table, percentile, ratio, workspace
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


def own_and_all(pid: int, seconds: float) -> tuple[float, float]:
    """CPU seconds of the process alone and with its children, over `seconds`."""
    before = cpu_sample(pid)
    time.sleep(seconds)
    after = cpu_sample(pid)
    return after.own - before.own, after.total - before.total


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


# The baseline wall: the same camera's video from a file, 16 <video> elements in the same 4-column
# grid and window as the console's wall, frames counted the same way. No network, no MSE, no live
# edge: what this browser on this box can decode and show, measured beside the live wall.
FILE_WALL = """<!doctype html><style>body{margin:0} .g{display:grid;grid-template-columns:repeat(4,1fr);gap:6px}
video{width:100%;aspect-ratio:16/9;display:block;background:#000}</style><div class=g></div><script>
for (let i = 0; i < TILES; i++) {
  const v = document.createElement("video"), s = {frames: 0, stalls: 0, firstFrameMs: 0, delays: []};
  Object.assign(v, {muted: true, autoplay: true, loop: true, src: "clip.mp4"});
  const box = document.createElement("figure"); box.className = "live-tile"; box.liveStats = s; box.append(v);
  let start = null;
  const cb = (_t, m) => { start ??= m.presentedFrames; s.frames = m.presentedFrames - start; v.requestVideoFrameCallback(cb); };
  v.requestVideoFrameCallback(cb); v.addEventListener("waiting", () => s.stalls++);
  document.querySelector(".g").append(box);
}</script>"""
# Each tile: its stats, and how far the picture shown is behind the newest frame received.
STATS_JS = """() => [...document.querySelectorAll('.live-tile')].map(t => { const v = t.querySelector('video');
  const b = v.buffered, q = v.getVideoPlaybackQuality();
  return {...t.liveStats, dropped: q.droppedVideoFrames, behind: b.length ? b.end(b.length - 1) - v.currentTime : null}; })"""


def chromium_cpu() -> float:
    """CPU seconds of the Chromium processes this benchmark started (their own, not their children's)."""
    parents, total = {}, 0.0
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                head, _, rest = Path(f"/proc/{entry}/stat").read_text().rpartition(")")
                stats[int(entry)] = [head.partition("(")[2], *rest.split()]
    for pid, fields in stats.items():
        parents[pid] = int(fields[2])
    me = os.getpid()
    for pid, fields in stats.items():
        ancestor, hops = parents.get(pid, 0), 0
        while ancestor not in (0, 1, me) and hops < 30:
            ancestor, hops = parents.get(ancestor, 0), hops + 1
        if ancestor == me and fields[0].startswith("chrom"):
            total += (int(fields[12]) + int(fields[13])) / CLK_TCK
    return total


@contextlib.contextmanager
def file_server(directory: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(10)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def record_clip(url: str, path: Path, seconds: float) -> None:
    """The camera's own video (copied, as the agent passes it through) into an MP4 file."""
    argv = ["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url]
    subprocess.run(
        [*argv, "-t", f"{seconds:g}", "-c", "copy", "-movflags", "+faststart", str(path)], check=True
    )


def play_wall(browser: sync_api.Browser, url: str, tiles: int, window: float, live: bool) -> dict[str, float]:
    """Open a page of `tiles` tiles, wait until every one shows frames, then measure over `window`."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        if live:
            page.add_init_script(f"sessionStorage.setItem('videorec.token', {TOKEN!r})")
        page.goto(url)

        def playing() -> bool:
            shown = page.evaluate(STATS_JS)
            return len(shown) == tiles and all(s["frames"] > 0 for s in shown)

        wait_until(playing, 60, what="every tile to play")
        firsts = [s["firstFrameMs"] / 1000 for s in page.evaluate(STATS_JS)]
        page.wait_for_timeout(2000)
        before, cpu_before, started = page.evaluate(STATS_JS), chromium_cpu(), time.monotonic()
        behind: list[float] = []
        for _ in range(int(window)):
            page.wait_for_timeout(1000)
            behind += [s["behind"] for s in page.evaluate(STATS_JS) if s["behind"] is not None]
        after, cpu_after, seconds = page.evaluate(STATS_JS), chromium_cpu(), time.monotonic() - started
        load = os.getloadavg()[0]
    finally:
        page.close()
    fps = [(b["frames"] - a["frames"]) / seconds for a, b in zip(before, after, strict=True)]
    stalls = [(b["stalls"] - a["stalls"]) * 60 / seconds for a, b in zip(before, after, strict=True)]
    dropped = [(b["dropped"] - a["dropped"]) / seconds for a, b in zip(before, after, strict=True)]
    delays = [d for s in after for d in s["delays"][-int(seconds * 6) :]]  # this window's (≤ 5 a second)
    result = {
        "tiles": len(after),
        "fps_min": min(fps),
        "fps_median": statistics.median(fps),
        "stalls": statistics.median(stalls),
        "dropped": statistics.median(dropped),
        "margin": statistics.median(s.get("marginS", 0) for s in after),
        "cpu": 100 * (cpu_after - cpu_before) / seconds,
        "load": load,
        "first_median": statistics.median(firsts),
        "first_max": max(firsts),
        "jumps": sum(s.get("jumps", 0) for s in after),
    }
    if live:
        result |= {
            "delay_p50": percentile(delays, 50),
            "delay_p95": percentile(delays, 95),
            "behind_p50": percentile(behind, 50),
            "behind_p95": percentile(behind, 95),
        }
    return result


def browser_walls(
    cp: ControlPlane, cam: RtspCamera, source_ids: list[int], tmp: Path, window: float
) -> dict[str, dict[str, float]]:
    """The 16-tile live wall (each camera once while there are enough, else repeated) opened on cold
    camera sessions and again at once (warm), 4 tiles, and the file baseline before and after them
    (the box's load drifts: the baseline brackets what it is compared with)."""
    (tmp / "files").mkdir()
    record_clip(cam.url, tmp / "files" / "clip.mp4", 12)
    (tmp / "files" / "index.html").write_text(FILE_WALL.replace("TILES", str(TILES)))
    ids = [source_ids[i % len(source_ids)] for i in range(TILES)]
    wall = f"{cp.url}/#/live/" + ",".join(map(str, ids))
    walls: dict[str, dict[str, float]] = {}
    with file_server(tmp / "files") as files, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            walls["files 1"] = play_wall(browser, f"{files}/index.html", TILES, window, live=False)
            wait_until(lambda: cam.playing() <= len(source_ids), 60, what="the live sessions to end")
            walls["live cold"] = play_wall(browser, wall, TILES, window, live=True)
            walls["live warm"] = play_wall(browser, wall, TILES, window, live=True)
            walls["live 4"] = play_wall(
                browser, f"{cp.url}/#/live/" + ",".join(map(str, ids[:4])), 4, window, live=True
            )
            walls["files 2"] = play_wall(browser, f"{files}/index.html", TILES, window, live=False)
        finally:
            browser.close()
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4, choices=range(1, 17), metavar="1-16")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternated windows of the agent's CPU")
    parser.add_argument("--wall-only", action="store_true", help="the Chromium walls only (item 5)")
    parser.add_argument("--cpu-only", action="store_true", help="the agent's CPU only (items 1-3)")
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
        if args.wall_only:
            with cp.client() as c:
                c.post(
                    "/api/v1/record", json={"tag_name": "bench-live", "group_name": "wall"}
                ).raise_for_status()
            wait_until(lambda: cam.playing() >= n, 60, what="every recording's session")
            print(wall_table(browser_walls(cp, cam, source_ids, tmp, window)))
            return

        with bare_copies([cam.url] * n) as procs:
            time.sleep(2)
            bare = cpu_of(lambda: [p.pid for p in procs], window)
        with cp.client() as c:
            c.post("/api/v1/record", json={"tag_name": "bench-live", "group_name": "wall"}).raise_for_status()
        wait_until(lambda: cam.playing() >= n, 60, what="every recording's session")
        time.sleep(3)
        # Alternated, medians: one window of 16 ffmpeg swings by ±0.5 % of a core on a shared box,
        # about what the viewers add; the agent's own CPU (no children) is the steadier figure.
        recordings, watcheds, delivered = [], [], []
        for _ in range(args.rounds):
            recordings.append(own_and_all(agent_pid, window))
            with stream_viewers(cp, source_ids) as frames:
                time.sleep(2)
                frames_before = sum(frames)
                watcheds.append(own_and_all(agent_pid, window))
                delivered.append((sum(frames) - frames_before) / window / n)
                sessions_recorded_and_watched = cam.playing() / n
            time.sleep(2)
        recording_own, recording = (statistics.median(x) for x in zip(*recordings, strict=True))
        watched_own, watched = (statistics.median(x) for x in zip(*watcheds, strict=True))
        delivered_fps = min(delivered)
        walls = {} if args.cpu_only else browser_walls(cp, cam, source_ids, tmp, window)
        with cp.client(timeout=120) as c:
            c.put("/api/v1/record", json={"tag_name": "bench-live"})
        if not args.cpu_only:
            live_only = sessions_per_source(cp, tmp, recorded=False, tag="sessions-live")
            with_record = sessions_per_source(cp, tmp, recorded=True, tag="sessions-rec")

    print(
        f"\n{n} sources of one 640x360 25 fps H.264 camera, window {window:g} s, token mode; box shared ({os.cpu_count()} cores)\n"
    )
    print(
        f"agent CPU: medians of {args.rounds} alternated windows; load average at the end {os.getloadavg()[0]:.1f}\n"
    )
    print(
        markdown_table(
            [
                "",
                "agent CPU (with children), % of a core",
                "vs bare copy",
                "vs recording alone",
                "agent process alone, % of a core",
            ],
            [
                [f"bare `ffmpeg -c copy` × {n} (baseline)", f"{100 * bare / window:.1f}", "1.00×", "", ""],
                [
                    f"recording {n}",
                    f"{100 * recording / window:.1f}",
                    ratio(recording, bare),
                    "1.00×",
                    f"{100 * recording_own / window:.2f}",
                ],
                [
                    f"recording {n} + each watched live (stream.mp4)",
                    f"{100 * watched / window:.1f}",
                    ratio(watched, bare),
                    ratio(watched, recording),
                    f"{100 * watched_own / window:.2f}",
                ],
            ],
        )
    )
    print(f"\nthe camera's frames per second, as stream.mp4 delivers them: {delivered_fps:.1f}\n")
    if args.cpu_only:
        return
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
    print(wall_table(walls))


def wall_table(walls: dict[str, dict[str, float]]) -> str:
    def cells(fmt: Callable[[dict[str, float]], str], live_only: bool = False) -> list[str]:
        return [fmt(w) if "delay_p50" in w or not live_only else "" for w in walls.values()]

    rows = [
        [
            "frames shown per tile, min / median (fps)",
            *cells(lambda w: f"{w['fps_min']:.1f} / {w['fps_median']:.1f}"),
        ],
        ["stalls per tile per minute (median)", *cells(lambda w: f"{w['stalls']:.0f}")],
        [
            "frames decoded too late and dropped, per tile per second (median)",
            *cells(lambda w: f"{w['dropped']:.1f}"),
        ],
        [
            "margin kept at the live edge, median of the tiles (s)",
            *cells(lambda w: f"{w['margin']:.2f}", live_only=True),
        ],
        ["jumps to the live edge (all tiles)", *cells(lambda w: f"{w['jumps']:.0f}", live_only=True)],
        [
            "first frame after the tile opened, median / max (s)",
            *cells(lambda w: f"{w['first_median']:.2f} / {w['first_max']:.2f}", live_only=True),
        ],
        [
            "delivery delay (arrival − prft), p50 / p95 (s)",
            *cells(lambda w: f"{w['delay_p50']:.3f} / {w['delay_p95']:.3f}", live_only=True),
        ],
        [
            "picture behind the newest frame received, p50 / p95 (s)",
            *cells(lambda w: f"{w['behind_p50']:.2f} / {w['behind_p95']:.2f}", live_only=True),
        ],
        ["Chromium CPU, % of a core", *cells(lambda w: f"{w['cpu']:.0f}")],
        ["load average (1 min) at the end", *cells(lambda w: f"{w['load']:.1f}")],
    ]
    heads = [f"{name} ({w['tiles']:.0f} tiles)" for name, w in walls.items()]
    return markdown_table(["Chromium, token mode", *heads], rows)


if __name__ == "__main__":
    main()
