"""GET /api/v1/source with 1,000 sources: the control plane against a bare FastAPI + SQLModel app
listing the same rows from the same database file, both under wrk (1 thread, 4 connections).

    .venv/bin/python bench/source_list.py [--quick]

Both servers are uvicorn with one worker on 127.0.0.1. Sources carry credentials in their RTSP URLs
(masked in every answer by the control plane). 10 s per run (--quick 4 s), after a 2 s warm-up.
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
from tests.support.net import free_port  # noqa: E402
from tests.support.processes import start_controlplane, wait_until  # noqa: E402

SOURCES = 1000


def wrk(url: str, seconds: int) -> tuple[float, float]:
    """Requests/s and p99 latency in ms."""
    out = subprocess.run(
        ["wrk", "-t1", "-c4", f"-d{seconds}s", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return rate, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    seconds = 4 if parser.parse_args().quick else 10
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    with workspace() as (tmp, stop):
        cp = start_controlplane(tmp)
        stop.callback(cp.stop)
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
        rows = []
        for name, url in (("bare FastAPI + SQLModel", bare_url), ("control plane", ours_url)):
            wrk(url, 2)  # warm-up
            rows.append((name, *wrk(url, seconds)))
        (_, bare_rate, _), (_, ours_rate, ours_p99) = rows
        print(
            markdown_table(
                ["server", "req/s", "p99 ms"], [(n, f"{r:.0f}", f"{p:.1f}") for n, r, p in rows], "lrr"
            )
        )
        print(
            f"\ncontrol plane vs bare: {ratio(ours_rate, bare_rate)} (goal >= 5x, p99 <= 20 ms: "
            f"{'met' if ours_rate >= 5 * bare_rate and ours_p99 <= 20 else 'not met'})"
        )


if __name__ == "__main__":
    main()
