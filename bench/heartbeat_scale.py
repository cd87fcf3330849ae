"""Heartbeats at scale: simulated agents against control planes on PostgreSQL, beside the floor of the
same exchange (a bare FastAPI app that parses the same beat and answers the same sources, no
database) measured in the same run.

    .venv/bin/python bench/heartbeat_scale.py [--quick] [--scenario AGENTS:SOURCES[:REPLICAS][:delta]]
        [--overload AGENTS:SOURCES] [--bulk N]

Each simulated agent beats as the real one does: every 2 s (x0.9-1.1 jitter) after its previous beat
came back, takes back what the answer assigns, and after a 503 waits out its Retry-After with the
agent's own jitter (agent.control.heartbeat.next_retry). Two protocols, one after the other on the same
control planes and database:
- "previous" beats as the previous release's agent: no assignment held, a probe for every source every
  time, and every source with its credentials back;
- "delta" beats as today's: the assignment it holds, probes only when their state changed (here once,
  after its sources came). A steady fleet's beats then bring nothing new: the quiet path.
Sources are added first through POST /api/v1/source/batch (1,000 a request, 2 callers: the bulk add
rate), unplaced; the placement loop places them once the agents have joined. Agents are spread over
the replicas (agent n beats to replica n mod REPLICAS, as a sticky connection would).

Per run: beats/s asked (agents / 2 s) and served, p50/p99 latency, control-plane CPU per served beat
(every replica's process) and in all, 503s, other errors, and agents declared down although they
never stopped beating. `--overload` runs the previous protocol on one replica at about twice what it
serves: what must hold is 503s only, no agent declared down, no failover. The simulator shares the
machine's cores with what it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import uvloop  # noqa: E402

from agent.control.heartbeat import next_retry  # noqa: E402
from bench.common import cpu_sample, markdown_table, percentile, ratio, workspace  # noqa: E402
from shared.heartbeat import HEARTBEAT_PATH  # noqa: E402
from videorec_testing.db import postgres_database  # noqa: E402
from videorec_testing.net import free_port  # noqa: E402
from videorec_testing.processes import AGENT_TOKEN, ControlPlane, Proc, start_controlplane  # noqa: E402
from videorec_testing.wait import wait_until  # noqa: E402

INTERVAL_S = 2.0
BARE_APP = "bench.bare_heartbeat_app:app"
BATCH = 1000


@dataclass
class Run:
    label: str
    agents: int
    sources: int
    replicas: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    declared_down: int = 0
    quiet: int = 0  # beats answered from memory (the delta protocol's quiet path)
    counts: dict[str, int] = field(default_factory=dict)  # quiet and full beats (by reason), the window's
    sim_cpu_s: float = 0.0  # the simulator's own CPU within the window (every simulator process)
    load: tuple[float, float] = (0.0, 0.0)  # the machine's 1-minute load average at the window's start, end

    @property
    def served(self) -> int:
        return self.statuses.get(200, 0)

    def row(self, floor_ms: float | None) -> list[object]:
        per_beat = self.cpu_s / self.served * 1000 if self.served else float("nan")
        errors = sum(n for status, n in self.statuses.items() if status not in (200, 503))
        return [
            self.label,
            f"{self.agents} x {self.sources}",
            self.replicas or "-",
            f"{self.agents / INTERVAL_S:.0f}",
            f"{self.served / self.seconds:.0f}",
            f"{percentile(self.latencies, 50) * 1000:.0f} ms" if self.latencies else "-",
            f"{percentile(self.latencies, 99) * 1000:.0f} ms" if self.latencies else "-",
            f"{per_beat:.2f} ms",
            ratio(per_beat, floor_ms) if floor_ms else "1.00×",
            f"{self.cpu_s / self.seconds * 100:.0f} %",
            f"{self.quiet / self.served * 100:.0f} %" if self.served and self.replicas else "-",
            self.statuses.get(503, 0),
            errors,
            self.declared_down if self.replicas else "-",
            f"{self.sim_cpu_s / sum(self.statuses.values()) * 1000:.2f} ms" if self.statuses else "-",
            f"{self.load[0]:.1f}-{self.load[1]:.1f}",
        ]


def simulate(urls: list[str], run: Run, warmup_s: float, delta: bool, procs: int = 1) -> None:
    """`run.agents` agents beating for warm-up + `run.seconds`; only the measured window counts. With
    `procs` > 1 the agents are shared among that many simulator processes (one event loop each), which
    share the machine with the control planes they measure."""
    started = time.time()
    measure_from, end = started + warmup_s, started + warmup_s + run.seconds
    parts = [(urls, list(range(k, run.agents, procs)), measure_from, end, delta) for k in range(procs)]
    if procs == 1:
        results = [_simulate_part(*parts[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(procs) as pool:
            # Bounded: each part ends at `end` (its last beats time out within 30 s).
            results = pool.starmap_async(_simulate_part, parts).get(timeout=end - time.time() + 120)
    for latencies, statuses, cpu_s in results:
        run.latencies += latencies
        run.sim_cpu_s += cpu_s
        for status, n in statuses.items():
            run.statuses[status] = run.statuses.get(status, 0) + n


# A 503's pause is the agent's own (agent.control.heartbeat.next_retry), which reads an httpx error.
_REQUEST = httpx.Request("POST", "http://sim" + HEARTBEAT_PATH)
TIMEOUT_S = 30.0
KEEP_ALIVE_S = 4.0  # reused while idle no longer than this (uvicorn closes one idle for 5 s)


class _Connection:
    """One agent's keep-alive HTTP/1.1 connection, spoken directly over asyncio streams: the
    simulator's cost per beat is then a few writes and reads, not an HTTP client's (so that the
    simulator, sharing the cores, is not what limits the run)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.head = (
            f"POST {HEARTBEAT_PATH} HTTP/1.1\r\nHost: {url.removeprefix('http://')}\r\n"
            f"Authorization: Bearer {AGENT_TOKEN}\r\nContent-Type: application/json\r\n"
            "Content-Length: "
        ).encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.idle_since = 0.0

    async def post(self, body: bytes) -> tuple[int, bytes, float]:
        """Status (0: no answer), body, and the Retry-After asked (seconds, 503 only)."""
        try:
            async with asyncio.timeout(TIMEOUT_S):
                if self.streams is not None and (
                    self.streams[0].at_eof() or time.monotonic() - self.idle_since > KEEP_ALIVE_S
                ):
                    self.close()  # the server closes an idle connection (uvicorn: after 5 s)
                if self.streams is None:
                    self.streams = await asyncio.open_connection(self.host, self.port)
                reader, writer = self.streams
                writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
                head = await reader.readuntil(b"\r\n\r\n")
                status, length, retry, close = int(head[9:12]), 0, 0.0, False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"retry-after":
                        retry = float(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                answer = await reader.readexactly(length)
                self.idle_since = time.monotonic()
                if close:
                    self.close()
                return status, answer, retry
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            self.close()
            return 0, b"", 0.0

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


def _simulate_part(
    urls: list[str], ids: list[int], measure_from: float, end: float, delta: bool
) -> tuple[list[float], dict[int, int], float]:
    """Agents `ids` in this process until `end` (wall clock, shared by every process); also returns
    this process's CPU seconds within the measured window (the simulator's own cost)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cpu = {"from": 0.0, "to": 0.0}

    async def agent(n: int) -> None:
        name, connection = f"sim-{n:05d}", _Connection(urls[n % len(urls)])
        held: dict[int, dict] = {}
        assignment: str | None = None  # the delta protocol's token (None: the previous release's beat)
        told = False  # the delta protocol sends a probe when its state changes (here: once)
        failures = 0
        last: tuple[bytes, dict] = (b"", {})  # the last answer parsed: a quiet one repeats byte for byte
        fixed = (
            f'{{"name":"{name}","address":"127.0.0.1:{20000 + n % 40000}","site":"default",'
            f'"capacity":1000,"version":"sim","disk_free_bytes":{10**12 - n},"records":[],'
        ).encode()
        await asyncio.sleep(random.uniform(0, INTERVAL_S))  # noqa: S311 - spread, as real agents are
        try:
            while time.time() < end:
                now = time.time()
                probes = [] if told else [{"source_id": s, "online": True, "probed_unix": now} for s in held]
                rest = {
                    "probes": probes,
                    "assignment": assignment,
                    "held": list(held) if delta and assignment is not None else None,
                }
                body = fixed + json.dumps(rest, separators=(",", ":")).encode()[1:]
                sent = time.time()
                pause = INTERVAL_S * random.uniform(0.9, 1.1)  # noqa: S311 - jitter
                status, raw, retry = await connection.post(body)
                if status == 200:
                    failures = 0
                    if raw != last[0]:
                        last = (raw, json.loads(raw))
                    answer = last[1]
                    if answer["sources"] is not None:
                        held = {s["id"]: s for s in answer["sources"]}
                        told = False
                    elif answer.get("changed") is not None:
                        for gone in answer["removed"]:
                            held.pop(gone, None)
                        held |= {s["id"]: s for s in answer["changed"]}
                        told = False
                    elif delta:
                        told = True
                    if delta:
                        assignment = answer.get("assignment")
                else:
                    failures += 1
                    if status == 0:
                        error: Exception = httpx.ConnectError("")
                    else:
                        response = httpx.Response(
                            status, headers={"Retry-After": str(retry)}, request=_REQUEST
                        )
                        error = httpx.HTTPStatusError("", request=_REQUEST, response=response)
                    pause = next_retry(failures, error, INTERVAL_S, 5.0)
                done = time.time()
                if sent >= measure_from and done <= end:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 200:
                        latencies.append(done - sent)
                await asyncio.sleep(pause)
        finally:
            connection.close()

    async def window() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.time()))
        cpu["from"] = time.process_time()
        await asyncio.sleep(max(0.0, end - time.time()))
        cpu["to"] = time.process_time()

    async def part() -> None:
        await asyncio.gather(window(), *(agent(n) for n in ids))

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(part())
    return latencies, statuses, cpu["to"] - cpu["from"]


def _beat_counts(urls: list[str]) -> dict[str, int]:
    """Beats answered quietly and fully (by reason), summed over the replicas."""
    total: dict[str, int] = {}
    for url in urls:
        try:
            text = httpx.get(url + "/metrics", timeout=120).text
        except httpx.HTTPError as exc:  # a saturated replica: the run goes on, its counts are missing
            print(f"no metrics from {url}: {exc!r}", file=sys.stderr, flush=True)
            continue
        for line in text.splitlines():
            if line.startswith(("videorec_heartbeats_quiet_total ", "videorec_heartbeats_full_total{")):
                name = line.split()[0].removeprefix("videorec_heartbeats_").removesuffix("_total")
                total[name] = total.get(name, 0) + int(float(line.split()[-1]))
    return total


def measure(
    urls: list[str], pids: list[int], run: Run, warmup_s: float, delta: bool = False, procs: int = 1
) -> None:
    async def timed() -> None:
        task = asyncio.create_task(asyncio.to_thread(simulate, urls, run, warmup_s, delta, procs))
        await asyncio.sleep(warmup_s)
        before = [cpu_sample(pid) for pid in pids]
        load = os.getloadavg()[0]
        counts = await asyncio.to_thread(_beat_counts, urls) if run.replicas else {}
        await asyncio.sleep(run.seconds)
        run.cpu_s = sum((cpu_sample(pid) - b).own for pid, b in zip(pids, before, strict=True))
        run.load = (load, os.getloadavg()[0])
        if run.replicas:
            after = await asyncio.to_thread(_beat_counts, urls)
            run.counts = {k: v - counts.get(k, 0) for k, v in after.items() if v - counts.get(k, 0)}
            run.quiet = run.counts.get("quiet", 0)
        await task

    asyncio.run(timed())


def add_sources(url: str, count: int, callers: int = 2) -> float:
    """Sources through POST /api/v1/source/batch (BATCH a request, `callers` at once); returns the
    sources added per second."""

    async def add() -> None:
        batches = iter(range(0, count, BATCH))
        async with httpx.AsyncClient(timeout=120) as client:

            async def caller() -> None:
                for start in batches:
                    # Addresses, not names: the camera policy resolves a name, and here none resolves.
                    items = [
                        {
                            "uri_rtsp": f"rtsp://viewer:pw@10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}/stream",
                            "description": f"cam {n}",
                        }
                        for n in range(start, min(start + BATCH, count))
                    ]
                    response = await client.post(url + "/api/v1/source/batch", json=items)
                    response.raise_for_status()

            await asyncio.gather(*(caller() for _ in range(callers)))

    started = time.monotonic()
    asyncio.run(add())
    return count / (time.monotonic() - started)


def _down(urls: list[str], since: datetime) -> int:
    """Simulated agents declared down since `since`: within the measured window every one of them
    beats (between runs the whole fleet pauses, and an agent silent for real may be declared down)."""
    rows = httpx.get(urls[0] + "/api/v1/agent", timeout=60).json()
    return sum(
        1
        for a in rows
        if a["name"].startswith("sim-") and a["down_utc"] and datetime.fromisoformat(a["down_utc"]) >= since
    )


def controlplane_runs(
    tmp: Path,
    agents: int,
    sources: int,
    replicas: int,
    seconds: float,
    warmup_s: float,
    protocols: list[str],
    procs: int = 1,
) -> tuple[list[Run], float]:
    """The protocols asked, one after the other, on `replicas` control planes and one database;
    also returns the bulk add rate."""
    runs = []
    with postgres_database() as database_url:
        cps: list[ControlPlane] = []
        try:
            for r in range(replicas):
                cps.append(start_controlplane(tmp / f"cp-{agents}-{sources}-{r}", database_url))
            urls = [cp.url for cp in cps]
            pids = [cp.proc.pid for cp in cps if cp.proc is not None]
            add_rate = add_sources(urls[0], agents * sources)
            for protocol in protocols:
                run = Run(protocol, agents, sources, replicas, seconds)
                window = datetime.now(UTC) + timedelta(seconds=warmup_s)
                measure(urls, pids, run, warmup_s, delta=protocol == "delta", procs=procs)
                run.declared_down = _down(urls, window)
                runs.append(run)
        finally:
            for cp in cps:
                cp.stop()
    return runs, add_rate


def floor_run(tmp: Path, agents: int, sources: int, seconds: float, warmup_s: float, procs: int = 1) -> Run:
    run = Run("floor", agents, sources, 0, seconds)
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
        measure([url], [server.proc.pid], run, warmup_s, procs=procs)
    finally:
        server.stop()
    return run


def bulk_run(tmp: Path, count: int) -> tuple[float, float]:
    """Seconds to add `count` cameras through the batch route, and the rate."""
    with postgres_database() as database_url:
        cp = start_controlplane(tmp / "cp-bulk", database_url)
        try:
            started = time.monotonic()
            rate = add_sources(cp.url, count)
            return time.monotonic() - started, rate
        finally:
            cp.stop()


def beat_cost(sources: int, beats: int = 1000) -> dict[str, float]:
    """CPU per beat of the control plane's own code (FastAPI app, middleware, service, database: SQLite
    in process), called in process through ASGI so that only CPU time counts, not how a loaded machine
    schedules it: a quiet beat (the delta protocol, nothing new) and a previous-release beat (no
    assignment held, a probe for every source), each against a request that matches no route (the
    framework's own floor) from the same client."""
    import tempfile

    from controlplane.settings import Settings
    from videorec_testing.asgi import in_process_client

    async def run() -> dict[str, float]:
        data = Path(tempfile.mkdtemp(prefix="videorec-cost-"))
        settings = Settings(
            data_dir=data, agent_token=AGENT_TOKEN, failover_after_s=600, agent_offline_after_s=600
        )
        async with in_process_client(settings) as (c, state):
            items = [{"uri_rtsp": f"rtsp://viewer:pw@10.9.{n >> 8}.{n & 255}/s"} for n in range(sources)]
            (await c.post("/api/v1/source/batch", json=items)).raise_for_status()
            headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
            body: dict[str, object] = {"name": "cost-1", "address": "127.0.0.1:1", "capacity": 1000}

            async def whole() -> dict | None:
                answer = (await c.post(HEARTBEAT_PATH, json=body, headers=headers)).json()
                return answer if len(answer["sources"] or []) == sources else None

            answer = None
            while answer is None:  # placed by the loop once the agent has settled
                answer = await whole()
                await asyncio.sleep(0.2)
            quiet = {**body, "assignment": answer["assignment"]}
            probes = [{"source_id": s["id"], "online": True, "probed_unix": 1.0} for s in answer["sources"]]
            previous = {**body, "probes": probes}
            ctx = state["ctx"]
            while not ctx.quiet.answered:  # the replica's first read of the token
                await c.post(HEARTBEAT_PATH, json=quiet, headers=headers)
                await asyncio.sleep(0.1)

            statuses: dict[int, int] = {}

            async def per_call(path: str, payload: dict) -> float:
                started = time.process_time()
                for _ in range(beats):
                    status = (await c.post(path, json=payload, headers=headers)).status_code
                    statuses[status] = statuses.get(status, 0) + 1
                    # A request through a socket reaches the app through the event loop; one
                    # called in process may not yield to it at all, and the loop's own tick
                    # (which measures its lateness) would never run.
                    await asyncio.sleep(0)
                return (time.process_time() - started) / beats * 1000

            floor = await per_call("/internal/v1/no-such-route", quiet)
            answered = ctx.quiet.answered
            cost = {"quiet": await per_call(HEARTBEAT_PATH, quiet) - floor}
            cost["quiet share"] = (ctx.quiet.answered - answered) / beats * 100
            cost["previous"] = await per_call(HEARTBEAT_PATH, previous) - floor
            # One camera of the agent's changed since the assignment it holds: the delta carries it
            # alone (with its credentials); without `held` the same beat gets the whole list.
            ids = [s["id"] for s in answer["sources"]]
            edit = {"uri_rtsp": "rtsp://viewer:pw2@10.9.255.255/s"}
            (await c.put(f"/api/v1/source/{ids[0]}", json=edit)).raise_for_status()
            delta = {**body, "assignment": answer["assignment"], "held": ids}
            for _ in range(50):  # a quiet answer until this replica's next read (half a second)
                told = (await c.post(HEARTBEAT_PATH, json=delta, headers=headers)).json()
                if told.get("changed") is not None:
                    break
                await asyncio.sleep(0.2)
            assert [s["id"] for s in told.get("changed") or []] == ids[:1], told
            cost["delta"] = await per_call(HEARTBEAT_PATH, delta) - floor
            cost["whole"] = (
                await per_call(HEARTBEAT_PATH, {**body, "assignment": answer["assignment"]}) - floor
            )
            cost["floor"] = floor
            print(f"{sources} sources: answers {statuses}", flush=True)
            return cost

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s per run instead of 30")
    parser.add_argument(
        "--scenario",
        action="append",
        default=None,
        help="AGENTS:SOURCES[:REPLICAS][:delta] (default: 100:5 100:50); ':delta' skips the previous protocol",
    )
    parser.add_argument(
        "--overload", action="append", default=[], help="AGENTS:SOURCES, previous protocol, 1 replica"
    )
    parser.add_argument("--bulk", type=int, default=0, help="also time adding this many cameras in bulk")
    parser.add_argument(
        "--cost",
        action="store_true",
        help="also the CPU per beat of the app itself, in process (5 and 50 sources)",
    )
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds before measuring (placement, first answers)"
    )
    parser.add_argument(
        "--procs",
        type=int,
        default=1,
        choices=range(1, 9),
        metavar="1-8",
        help="simulator processes the agents are shared among (they share the machine's cores with the "
        "control planes)",
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the bare app's floor run")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (path printed)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds measured per run")
    args = parser.parse_args()
    seconds, warmup = (10.0, 15.0) if args.quick else (30.0, 20.0)
    warmup = args.warmup or warmup
    seconds = args.seconds or seconds
    headers = [
        "server",
        "agents x sources",
        "replicas",
        "beats/s asked",
        "served",
        "p50",
        "p99",
        "CPU per beat",
        "vs floor",
        "CPU",
        "quiet",
        "503",
        "other errors",
        "declared down",
        "simulator CPU per beat",
        "load average",
    ]
    rows: list[list[object]] = []
    notes: list[str] = []
    with workspace(args.keep_logs) as (tmp, _stop):
        for spec in (
            args.scenario
            if args.scenario is not None
            else ([] if args.cost or args.bulk or args.overload else ["100:5", "100:50"])
        ):
            parts = spec.split(":")
            agents, sources = int(parts[0]), int(parts[1])
            replicas = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
            protocols = ["delta"] if parts[-1] == "delta" else ["previous", "delta"]
            floor = None if args.no_floor else floor_run(tmp, agents, sources, seconds, warmup, args.procs)
            floor_ms = floor.cpu_s / floor.served * 1000 if floor and floor.served else 0.0
            if floor and floor.statuses:
                per_beat = floor.sim_cpu_s / sum(floor.statuses.values())
                notes.append(
                    f"{agents}x{sources} simulator against the floor: {args.procs} process(es), "
                    f"{per_beat * 1000:.2f} ms of CPU a beat (one core would send {1 / per_beat:.0f} beats/s), "
                    f"the floor served {floor.served / floor.seconds:.0f} of {agents / INTERVAL_S:.0f} asked"
                )
            runs, add_rate = controlplane_runs(
                tmp, agents, sources, replicas, seconds, warmup, protocols, args.procs
            )
            rows += [*([floor.row(None)] if floor else []), *(run.row(floor_ms or None) for run in runs)]
            notes.append(
                f"{agents}x{sources}: {agents * sources} sources added at {add_rate:.0f}/s (batch route)"
            )
            notes += [
                f"{agents}x{sources} {run.label}: beats {run.counts}, answers {run.statuses} (0: no answer)"
                for run in runs
            ]
            print(markdown_table(headers, rows), flush=True)  # so far: a long run shows each scenario
        for spec in args.overload:
            agents, sources = (int(x) for x in spec.split(":"))
            runs, _ = controlplane_runs(tmp, agents, sources, 1, seconds, warmup, ["previous"], args.procs)
            for run in runs:
                run.label = "overload (previous)"
                notes.append(f"overload {agents}x{sources}: answers {run.statuses} (0: no answer)")
            rows += [run.row(None) for run in runs]
            print(markdown_table(headers, rows), flush=True)
        if args.bulk:
            took, rate = bulk_run(tmp, args.bulk)
            notes.append(
                f"bulk add: {args.bulk} cameras in {took:.1f} s ({rate:.0f}/s, batches of {BATCH}, 2 callers)"
            )
    if args.cost:
        table = []
        for sources in (5, 50):
            cost = beat_cost(sources)
            table.append(
                [
                    f"{sources}",
                    f"{cost['quiet']:.2f} ms ({cost['quiet share']:.0f} % quiet)",
                    f"{cost['delta']:.2f} ms",
                    f"{cost['whole']:.2f} ms",
                    f"{cost['previous']:.2f} ms",
                    f"{cost['floor']:.2f} ms",
                ]
            )
        columns = [
            "sources per agent",
            "quiet beat",
            "one source changed: delta",
            "one source changed: whole list",
            "previous-release beat",
            "no-route floor",
        ]
        print(markdown_table(columns, table))
    print(markdown_table(headers, rows))
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
