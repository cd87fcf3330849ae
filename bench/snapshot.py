"""Snapshot latency: cold and warm GET /api/v1/source/{id}/picture against bare ffmpeg.

    .venv/bin/python bench/snapshot.py

- baseline: bare `ffmpeg -rtsp_transport tcp -analyzeduration 0 -probesize 32 -i URL -frames:v 1
  -f image2 -y out.jpg`, run directly (N=10);
- cold /picture: no live reader runs, so the agent grabs one frame with its own ffmpeg (N=10). The
  two are interleaved, alternating which goes first, so drift on the machine hits both alike;
- warm /picture: while one viewer holds /video?delay=0.2 open, answered from the live reader's
  latest frame (N=50).

Before every cold request and every bare grab the script waits until the agent runs no ffmpeg (no
live reader, no probe). Nothing else reads the camera then, so each grab makes the test camera
build its shared pipeline afresh, which starts with a keyframe: both kinds of grab pay the same
RTSP set-up and decoder start, and the comparison shows the agent's own overhead.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import statistics
import subprocess
import threading
import time

import httpx

from bench.common import (
    PartCounter,
    Stack,
    add_rtsp_source,
    child_pids,
    get_ok,
    markdown_table,
    percentile,
    ratio,
    running_stack,
    wait_source_online,
    yes_no,
)
from videorec_testing.media import assert_jpeg_decodes
from videorec_testing.processes import ControlPlane, wait_until

N_GRABS = 10  # cold /picture and bare ffmpeg each
N_WARM = 50
WARM_PACE_S = 0.05  # between warm requests, so that they spread over several live frames
VIEW_DELAY = 0.2
CAMERA = {"width": 640, "height": 360, "fps": 15, "bitrate": 800}
# Background probes would run an ffmpeg next to the measured one (they probe every second in the
# test settings); with this interval only the first probe of the new source runs, before measuring.
AGENT_ENV = {"VIDEOREC_AGENT_PROBE_INTERVAL_S": "600"}
WARM_GOAL_MS = 10.0
COLD_GOAL_RATIO = 1.1


def bare_ffmpeg_grab(url: str, out: Path) -> float:
    argv = ["ffmpeg", "-rtsp_transport", "tcp", "-analyzeduration", "0", "-probesize", "32"]
    argv += ["-i", url, "-frames:v", "1", "-f", "image2", "-y", str(out)]
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"bare ffmpeg failed ({result.returncode}): {result.stderr[-500:]!r}")
    return elapsed


def timed_picture(client: httpx.Client, source_id: int) -> tuple[float, bytes]:
    started = time.perf_counter()
    jpeg = get_ok(client, f"/api/v1/source/{source_id}/picture")
    elapsed = time.perf_counter() - started
    if jpeg[:2] != b"\xff\xd8":
        raise RuntimeError(f"not a JPEG: {jpeg[:16]!r}")
    return elapsed, jpeg


def wait_agent_idle(stack: Stack) -> None:
    """Until the agent runs no ffmpeg: no live reader and no probe, so the next /picture is cold."""
    wait_until(lambda: not child_pids(stack.agent_pid), 20, interval=0.05, what="agent without ffmpeg")


class Viewer(threading.Thread):
    """Holds /video?delay=D open and counts the frames, until `stop()`."""

    def __init__(self, cp: ControlPlane, source_id: int, delay: float) -> None:
        super().__init__(daemon=True)
        self._cp, self._source_id, self._delay = cp, source_id, delay
        self._stopping = threading.Event()
        self.counter = PartCounter()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            url = f"/api/v1/source/{self._source_id}/video"
            with self._cp.client() as client, client.stream("GET", url, params={"delay": self._delay}) as r:
                r.raise_for_status()
                for chunk in r.iter_raw():
                    self.counter.feed(chunk)
                    if self._stopping.is_set():
                        break
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def wait_first_frame(self, timeout: float = 20.0) -> None:
        def ready() -> bool:
            if self.error is not None:
                raise RuntimeError(f"viewer failed: {self.error!r}")
            return self.counter.count > 0

        wait_until(ready, timeout, what="the viewer's first frame")
        if self.error is not None:
            raise RuntimeError(f"viewer failed: {self.error!r}")

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=10)


def measure(stack: Stack) -> tuple[list[float], list[float], list[float], int]:
    cp, url = stack.cp, stack.camera.url
    source_id = add_rtsp_source(cp, url)
    out = stack.tmp / "bare.jpg"
    cold: list[float] = []
    bare: list[float] = []
    with cp.client() as client:
        # Not counted: places the source on the agent and opens the control plane's gRPC channel.
        timed_picture(client, source_id)
        wait_source_online(cp, source_id)  # the agent's first probe of the new source is done
        for i in range(N_GRABS):
            for which in ("cold", "bare") if i % 2 == 0 else ("bare", "cold"):
                wait_agent_idle(stack)
                if which == "cold":
                    elapsed, jpeg = timed_picture(client, source_id)
                    cold.append(elapsed)
                else:
                    bare.append(bare_ffmpeg_grab(url, out))
        assert_jpeg_decodes(jpeg)
        assert_jpeg_decodes(out.read_bytes())

        viewer = Viewer(cp, source_id, VIEW_DELAY)
        viewer.start()
        try:
            viewer.wait_first_frame()
            warm: list[float] = []
            for _ in range(N_WARM):
                elapsed, jpeg = timed_picture(client, source_id)
                warm.append(elapsed)
                time.sleep(WARM_PACE_S)
            assert_jpeg_decodes(jpeg)
            if viewer.error is not None:
                raise RuntimeError(f"viewer failed: {viewer.error!r}")
        finally:
            viewer.stop()
    return bare, cold, warm, viewer.counter.count


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def report(bare: list[float], cold: list[float], warm: list[float], viewer_frames: int) -> None:
    base_p50, base_p95 = percentile(bare, 50), percentile(bare, 95)
    rows = []
    for name, values in (
        ("bare ffmpeg, run directly (baseline)", bare),
        ("cold /picture (agent runs ffmpeg)", cold),
        (f"warm /picture (1 viewer on /video?delay={VIEW_DELAY:g})", warm),
    ):
        p50, p95 = percentile(values, 50), percentile(values, 95)
        rows.append(
            [
                name,
                len(values),
                ms(p50),
                ms(p95),
                ms(statistics.fmean(values)),
                ms(min(values)),
                ms(max(values)),
                ratio(p50, base_p50),
                ratio(p95, base_p95),
            ]
        )
    headers = ["measurement", "N", "p50 ms", "p95 ms", "mean ms", "min ms", "max ms"]
    headers += ["p50 vs baseline", "p95 vs baseline"]
    print(markdown_table(headers, rows))
    print()
    warm_p50 = percentile(warm, 50)
    cold_ratio = percentile(cold, 50) / base_p50
    goals = [
        [
            "warm /picture p50",
            f"≤ {WARM_GOAL_MS:g} ms",
            f"{ms(warm_p50)} ms",
            yes_no(warm_p50 * 1000 <= WARM_GOAL_MS),
        ],
        [
            "cold /picture p50 vs bare ffmpeg p50",
            f"≤ {COLD_GOAL_RATIO:.2f}×",
            f"{cold_ratio:.2f}×",
            yes_no(cold_ratio <= COLD_GOAL_RATIO),
        ],
    ]
    print(markdown_table(["goal", "target", "measured", "met"], goals, align="lrrl"))
    print()
    print(f"(the viewer received {viewer_frames} frames while the warm requests ran)")


def main() -> None:
    started = time.monotonic()
    with running_stack(camera=CAMERA, agent_env=AGENT_ENV) as stack:
        print(f"stack up in {time.monotonic() - started:.1f} s; camera {stack.camera.url} {CAMERA}\n")
        bare, cold, warm, viewer_frames = measure(stack)
    report(bare, cold, warm, viewer_frames)
    print(f"\nwhole run (start-up, measurements, shutdown): {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
