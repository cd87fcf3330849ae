"""Heartbeats at scale: simulated agents against a control plane on PostgreSQL, beside the floor of
the same exchange (a bare FastAPI app that parses the same beat and answers the same sources, no
database) measured in the same run.

    .venv/bin/python bench/heartbeat_scale.py [--quick] [--scenario AGENTS:SOURCES ...]

Each simulated agent beats as the real one does: every 2 s (x0.9-1.1 jitter) after its previous beat
came back, and takes back what the answer assigns. Two ways, one after the other on the same control
plane and database: "full beats" as the previous release's agent (no assignment held: a probe for
every source every time, every source with its credentials back), and "delta beats" as today's
(the assignment it holds, probes only when their state changed: here never after the first). Sources are added through the API first (unplaced; the beats place them), which
also gives the rate at which a site adds cameras. Per scenario: beats/s asked (agents / 2 s) and
served, p50/p99 latency, the control plane's CPU per beat and in all, answers that were not 200, and
agents declared down although they never stopped beating. The simulator shares the 2 cores: past
~150 beats/s it competes with what it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench.common import cpu_sample, markdown_table, percentile, ratio, workspace  # noqa: E402
from shared.heartbeat import HEARTBEAT_PATH  # noqa: E402
from videorec_testing.db import postgres_database  # noqa: E402
from videorec_testing.net import free_port  # noqa: E402
from videorec_testing.processes import AGENT_TOKEN, Proc, start_controlplane  # noqa: E402
from videorec_testing.wait import wait_until  # noqa: E402

INTERVAL_S = 2.0
BARE_APP = "bench.bare_heartbeat_app:app"


@dataclass
class Run:
    label: str
    agents: int
    sources: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    declared_down: int = 0
    add_rate: float = 0.0

    @property
    def served(self) -> int:
        return self.statuses.get(200, 0)

    def row(self, floor_ms: float | None) -> list[object]:
        per_beat = self.cpu_s / self.served * 1000 if self.served else float("nan")
        others = sum(n for status, n in self.statuses.items() if status != 200)
        return [
            self.label,
            f"{self.agents} x {self.sources}",
            f"{self.agents / INTERVAL_S:.0f}",
            f"{self.served / self.seconds:.0f}",
            f"{percentile(self.latencies, 50) * 1000:.0f} ms" if self.latencies else "-",
            f"{percentile(self.latencies, 99) * 1000:.0f} ms" if self.latencies else "-",
            f"{per_beat:.2f} ms",
            ratio(per_beat, floor_ms) if floor_ms else "1.00×",
            f"{self.cpu_s / self.seconds * 100:.0f} %",
            others,
            self.declared_down if self.label != "floor" else "-",
            f"{self.add_rate:.0f}/s" if self.add_rate else "-",
        ]


async def simulate(url: str, run: Run, warmup_s: float, delta: bool) -> None:
    """`run.agents` agents beating for warm-up + `run.seconds`; only the measured window counts."""
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}", "Content-Type": "application/json"}
    started = time.monotonic()
    measure_from, end = started + warmup_s, started + warmup_s + run.seconds

    async def agent(n: int, client: httpx.AsyncClient) -> None:
        name = f"sim-{n:05d}"
        held: list[int] = []
        assignment: str | None = None  # the delta protocol's token (None: the previous release's beat)
        told = False  # the delta protocol sends a probe when its state changes (here: once)
        await asyncio.sleep(random.uniform(0, INTERVAL_S))  # noqa: S311 - spread, as real agents are
        while time.monotonic() < end:
            now = time.time()
            body = {
                "name": name,
                "address": f"127.0.0.1:{20000 + n}",
                "site": "default",
                "capacity": 1000,
                "version": "sim",
                "probes": []
                if told
                else [{"source_id": s, "online": True, "probed_unix": now} for s in held],
                "records": [],
                "assignment": assignment,
            }
            sent = time.monotonic()
            try:
                response = await client.post(url + HEARTBEAT_PATH, json=body, headers=headers)
                status = response.status_code
                if status == 200:
                    answer = response.json()
                    if answer["sources"] is not None:
                        held = [s["id"] for s in answer["sources"]]
                        told = False
                    elif delta:
                        told = True
                    if delta:
                        assignment = answer.get("assignment")
            except httpx.HTTPError:
                status = 0
            done = time.monotonic()
            if sent >= measure_from and done <= end:
                run.statuses[status] = run.statuses.get(status, 0) + 1
                if status == 200:
                    run.latencies.append(done - sent)
            await asyncio.sleep(INTERVAL_S * random.uniform(0.9, 1.1))  # noqa: S311 - jitter

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(agent(n, client) for n in range(run.agents)))


def measure(url: str, pid: int, run: Run, warmup_s: float, delta: bool = False) -> None:
    async def timed() -> None:
        task = asyncio.create_task(simulate(url, run, warmup_s, delta))
        await asyncio.sleep(warmup_s)
        before = cpu_sample(pid)
        await asyncio.sleep(run.seconds)
        run.cpu_s = (cpu_sample(pid) - before).own
        await task

    asyncio.run(timed())


def add_sources(url: str, count: int) -> float:
    """Sources through the API, 16 callers at once; returns sources added per second."""

    async def add() -> None:
        queue = iter(range(count))
        async with httpx.AsyncClient(timeout=60) as client:

            async def caller() -> None:
                for n in queue:
                    # Addresses, not names: the camera policy resolves a name, and here none resolves
                    # (a 2 s time-out each would be all this measures).
                    host = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
                    body = {"uri_rtsp": f"rtsp://{host}/stream", "description": f"cam {n}"}
                    response = await client.post(url + "/api/v1/source", json=body)
                    response.raise_for_status()

            await asyncio.gather(*(caller() for _ in range(16)))

    started = time.monotonic()
    asyncio.run(add())
    return count / (time.monotonic() - started)


def controlplane_runs(tmp: Path, agents: int, sources: int, seconds: float, warmup_s: float) -> list[Run]:
    """The previous release's beats (every source, every probe, every time), then the delta protocol's,
    on one control plane and database."""
    runs = [Run("full beats", agents, sources, seconds), Run("delta beats", agents, sources, seconds)]
    with postgres_database() as database_url:
        cp = start_controlplane(tmp / f"cp-{agents}-{sources}", database_url)
        try:
            add_rate = add_sources(cp.url, agents * sources)
            assert cp.proc is not None
            for run, delta in zip(runs, (False, True), strict=True):
                run.add_rate = add_rate
                measure(cp.url, cp.proc.pid, run, warmup_s, delta)
                with httpx.Client(base_url=cp.url, timeout=30) as c:
                    rows = c.get("/api/v1/agent").json()
                downs = sum(1 for a in rows if a["name"].startswith("sim-") and a["down_utc"])
                run.declared_down = downs - sum(r.declared_down for r in runs if r is not run)
        finally:
            cp.stop()
    return runs


def floor_run(tmp: Path, agents: int, sources: int, seconds: float, warmup_s: float) -> Run:
    run = Run("floor", agents, sources, seconds)
    port = free_port()
    env = {"VIDEOREC_BARE_SOURCES_PER_AGENT": str(sources), "PATH": "/usr/bin:/bin"}
    server = Proc(
        [sys.executable, "-m", "uvicorn", BARE_APP, "--port", str(port), "--log-level", "warning"],
        env,
        tmp / f"bare-{agents}-{sources}.log",
    )
    server.env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(url + "/healthz").status_code == 200, 30, what="bare app")
        assert server.proc is not None
        measure(url, server.proc.pid, run, warmup_s)
    finally:
        server.stop()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s per run instead of 30")
    parser.add_argument(
        "--scenario", action="append", help="AGENTS:SOURCES (default: 100:5 100:50 300:5)", default=None
    )
    args = parser.parse_args()
    seconds, warmup = (10.0, 4.0) if args.quick else (30.0, 6.0)
    scenarios = [tuple(int(x) for x in s.split(":")) for s in (args.scenario or ["100:5", "100:50", "300:5"])]
    headers = [
        "server",
        "agents x sources",
        "beats/s asked",
        "served",
        "p50",
        "p99",
        "CPU per beat",
        "vs floor",
        "CPU",
        "not 200",
        "declared down",
        "sources added",
    ]
    rows: list[list[object]] = []
    with workspace() as (tmp, _stop):
        for agents, sources in scenarios:
            floor = floor_run(tmp, agents, sources, seconds, warmup)
            floor_ms = floor.cpu_s / floor.served * 1000 if floor.served else 0.0
            rows += [
                floor.row(None),
                *(run.row(floor_ms) for run in controlplane_runs(tmp, agents, sources, seconds, warmup)),
            ]
            print(markdown_table(headers, rows), flush=True)  # so far: a long run shows each scenario


if __name__ == "__main__":
    main()
