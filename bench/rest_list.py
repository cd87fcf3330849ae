"""GET /api/v1/source with 1,000 sources: the control plane against a bare FastAPI + SQLModel app
listing the same rows from the same database file, both under wrk (1 thread, 4 connections).

    .venv/bin/python bench/rest_list.py [--quick]

Rows: the bare app (run before and after the control plane; the baseline is their mean, as other
work on the machine drifts), the control plane answering the whole list (200, the body cached for
the database's version of the sources, checked by one query per request), and a poller whose copy
is current (If-None-Match → 304). Both servers are uvicorn with one worker on 127.0.0.1; sources
carry credentials in their RTSP URLs (masked in every answer by the control plane). 10 s per run
(--quick 4 s), each after a 2 s warm-up.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench.common import markdown_table, ratio, workspace  # noqa: E402
from videorec_testing.net import free_port  # noqa: E402
from videorec_testing.stack import start_stack  # noqa: E402
from videorec_testing.wait import wait_until  # noqa: E402

SOURCES = 1000


def wrk(url: str, seconds: int, *headers: str) -> tuple[float, float]:
    """Requests/s and p99 latency in ms."""
    args = [arg for header in headers for arg in ("-H", header)]
    out = subprocess.run(
        ["wrk", "-t1", "-c4", f"-d{seconds}s", "--latency", *args, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if re.search(r"Non-2xx or 3xx responses", out):
        sys.exit(f"wrk saw errors from {url}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return rate, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def measure(url: str, seconds: int, *headers: str) -> tuple[float, float]:
    wrk(url, 2, *headers)  # warm-up
    return wrk(url, seconds, *headers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    seconds = 4 if parser.parse_args().quick else 10
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    with workspace() as (tmp, stop):
        cp = stop.enter_context(start_stack(tmp, agents=0)).cp  # the list needs no agent
        with cp.client() as c:
            for i in range(SOURCES):
                url = f"rtsp://viewer:pw-{i}@10.1.{i // 250}.{i % 250 + 1}:554/stream1"
                c.post(
                    "/api/v1/source", json={"uri_rtsp": url, "description": f"camera {i}"}
                ).raise_for_status()
        db = tmp / "cp-data" / "videorec.db"
        port = free_port()
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_list_app:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env={**os.environ, "VIDEOREC_BARE_DB": str(db)},
            cwd=Path(__file__).resolve().parent.parent,
        )
        stop.callback(bare.terminate)
        bare_url = f"http://127.0.0.1:{port}/api/v1/source"
        wait_until(lambda: httpx.get(bare_url, timeout=5).status_code == 200, 30, what="bare app")
        assert len(httpx.get(bare_url).json()) == SOURCES
        ours_url = cp.url + "/api/v1/source"
        answer = httpx.get(ours_url)
        assert len(answer.json()) == SOURCES
        tag = answer.headers["etag"]
        assert httpx.get(ours_url, headers={"If-None-Match": tag}).status_code == 304

        bare_before = measure(bare_url, seconds)
        ours = measure(ours_url, seconds)
        ours_304 = measure(ours_url, seconds, f"If-None-Match: {tag}")
        bare_after = measure(bare_url, seconds)
        base = (bare_before[0] + bare_after[0]) / 2
        rows = [
            ("bare FastAPI + SQLModel (before, after)", bare_before, f"{bare_after[0]:.0f}", "1.00×"),
            ("control plane, 200 (whole list)", ours, "", ratio(ours[0], base)),
            ("control plane, 304 (If-None-Match current)", ours_304, "", ratio(ours_304[0], base)),
        ]
        print(
            markdown_table(
                ["server", "req/s", "req/s after", "p99 ms", "vs bare"],
                [(name, f"{r:.0f}", after, f"{p:.1f}", vs) for name, (r, p), after, vs in rows],
                "lrrrr",
            )
        )
        met = ours[0] >= 5 * base and ours[1] <= 20
        print(
            f"\ncontrol plane vs bare (mean of its two runs, {base:.0f} req/s): {ratio(ours[0], base)}, "
            f"p99 {ours[1]:.1f} ms (goal >= 5x, p99 <= 20 ms: {'met' if met else 'not met'})"
        )


if __name__ == "__main__":
    main()
