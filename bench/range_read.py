"""Playback throughput: GET /api/v1/record/{id}/video through the control plane against nginx
serving the same file straight from the agent's storage directory.

    .venv/bin/python bench/range_read.py [--quick]

A real recording makes the file: one 1280x720 25 fps RTSP test camera at 20000 kbit/s (the test
camera's encoder tops out at ~20 Mbit/s), one source, one tag recorded for 60 s (--quick 15 s) and
stopped, so the agent joins, verifies and hashes the final MP4 (~150 MB; --quick ~37 MB).

- baseline: nginx (Debian's package; installed with apt-get when missing and run as root) with a
  generated configuration on a free 127.0.0.1 port, one worker, `sendfile on`, whose root is the
  agent's storage directory;
- the control plane's proxy: GET /api/v1/record/{id}/video, which signs a URL for the agent's HTTP
  port, asks the agent there (httpx, Range passed on) and relays its answer chunk by chunk (the
  agent sends the file with sendfile; the bytes cross one Python process, the control plane);
- the redirect: GET /api/v1/record/{id}/video?redirect=1, which answers 307 to a URL signed for the
  agent's HTTP port, where aiohttp sends the file with sendfile. curl follows it (-L), so every
  request pays the redirect too (a fresh signed URL each time, as a client that never caches it);
- the signed URL kept: GET /api/v1/record/{id}/video_url once per batch, then every read straight
  from the agent at that URL (what a `<video src>` does for the minute the URL is valid).

Both are read by curl (one process per batch, keep-alive between the requests of a batch, the bytes
thrown away), so the client costs the same for all: the whole file 5 times (--quick 3), and 300
(--quick 100) 1 MiB ranges at random offsets, the same offsets for every server. The batches
rotate between the servers. Throughput is bytes over the sum of curl's `time_total`; the CPU
time of the serving processes (control plane + agent, nginx master + worker) is taken per batch.

Memory: the kernel's peak RSS mark (VmHWM) of the control plane and of the agent is reset before a
series of reads (/proc/PID/clear_refs) and read after it, so the peak is exact, not sampled. The
control plane must not buffer a file: its peak reading the whole file (5 times) may not be above its
peak reading only the file's first eighth as a range (5 times, just before) by more than 8 MiB.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import contextlib
import hashlib
import os
import random
import shutil
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from bench.common import Stack, cpu_sample, markdown_table, percentile, ratio, running_stack, yes_no
from bench.record_common import (
    MIB,
    add_sources,
    make_group,
    mib,
    peak_rss_bytes,
    record_path,
    records,
    reset_peak_rss,
    rss_bytes,
    start_tag,
    stop_tag,
)
from videorec_testing.net import free_port
from videorec_testing.processes import wait_until

CAMERA = {"width": 1280, "height": 720, "fps": 25, "bitrate": 20000}
AGENT_ENV = {"VIDEOREC_AGENT_PROBE_INTERVAL_S": "600"}


@dataclass(frozen=True)
class Plan:
    record_s: float
    whole_reads: int
    ranges: int


FULL = Plan(record_s=60.0, whole_reads=5, ranges=300)
QUICK = Plan(record_s=15.0, whole_reads=3, ranges=100)
RANGE_SIZE = 1 * MIB
RANGE_BATCHES = 2  # per server, the order rotating from batch to batch
SERVERS = ("cp", "redirect", "signed", "nginx")
GOAL_RATIO = 0.5
PREFIX = 8  # memory: reading the first 1/PREFIX of the file must peak as high as reading it all
GOAL_RSS_SIZE_GROWTH = 8 * MIB  # whole file vs its first 1/PREFIX: allocator noise, not the file
SEED = 20240601


# --- nginx -----------------------------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("nginx is missing; install it: sudo apt-get install -y nginx")
    print("nginx is missing: apt-get install -y nginx", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "nginx"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    return shutil.which("nginx") or "/usr/sbin/nginx"


NGINX_CONF = """\
worker_processes 1;
user root;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    types {{ video/mp4 mp4; }}
    default_type application/octet-stream;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


@dataclass(frozen=True)
class Nginx:
    url: str
    pid: int  # the master; its worker is its child


@contextlib.contextmanager
def running_nginx(tmp: Path, root: Path) -> Iterator[Nginx]:
    """nginx serving `root` on a free loopback port."""
    binary = nginx_binary()
    prefix = tmp / "nginx"
    prefix.mkdir()
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, root=root))
    log = (prefix / "stderr.log").open("ab")
    proc = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: proc.poll() is None and httpx.get(url + "/", timeout=1).status_code, 10, what="nginx"
        )
        yield Nginx(url, proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # fast shutdown: the master stops its worker
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


# --- reading ---------------------------------------------------------------------------------------


@dataclass
class Reads:
    """Transfers of one kind from one server, and the CPU the server's processes used for them."""

    sizes: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)  # per server process

    def add(self, other: Reads, cpu_s: dict[str, float]) -> None:
        self.sizes += other.sizes
        self.seconds += other.seconds
        for name, value in cpu_s.items():
            self.cpu_s[name] = self.cpu_s.get(name, 0.0) + value

    @property
    def throughput(self) -> float:
        """Bytes per second over the time the transfers took."""
        return sum(self.sizes) / sum(self.seconds)


def curl(url: str, ranges: list[tuple[int, int]] | None = None) -> Reads:
    """One curl process: `url` once (whole), or once per (start, end) range, over one connection."""
    fmt = "%{http_code} %{size_download} %{time_total}\n"
    one = ["-o", "/dev/null", "-w", fmt, url]
    argv = ["curl", "-sS", "--fail", "-L"]
    if ranges is None:
        argv += one
    else:
        for i, (start, end) in enumerate(ranges):
            argv += (["--next"] if i else []) + ["-sS", "--fail", "-L", "-r", f"{start}-{end}", *one]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"curl {url}: exit {result.returncode}: {result.stderr[-300:]}")
    reads = Reads()
    expected = 200 if ranges is None else 206
    for line in result.stdout.splitlines():
        code, size, seconds = line.split()
        if int(code) != expected:
            raise RuntimeError(f"curl {url}: HTTP {code}, expected {expected}")
        reads.sizes.append(int(size))
        reads.seconds.append(float(seconds))
    return reads


def check_same_bytes(urls: list[str], path: Path, md5: str) -> None:
    """Every server gives the file the agent hashed, and the same bytes for a range."""
    for url in urls:
        digest = hashlib.md5()  # noqa: S324 - the record's checksum
        with httpx.stream("GET", url, timeout=120, follow_redirects=True) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                digest.update(chunk)
        if digest.hexdigest() != md5:
            raise RuntimeError(f"{url}: MD5 {digest.hexdigest()} is not the record's {md5}")
    start = path.stat().st_size // 3
    with path.open("rb") as f:
        f.seek(start)
        expected = f.read(RANGE_SIZE)
    for url in urls:
        headers = {"Range": f"bytes={start}-{start + RANGE_SIZE - 1}"}
        got = httpx.get(url, headers=headers, timeout=60, follow_redirects=True)
        if got.status_code != 206 or got.content != expected:
            raise RuntimeError(f"{url}: range {headers['Range']} differs ({got.status_code})")


@dataclass
class Memory:
    before: int  # RSS after a warm-up read, before the measured ones
    peak_prefix: int  # reading the first 1/PREFIX of the file, as one range
    peak_whole: int
    peak_ranges: int


@dataclass
class Result:
    size: int
    whole: dict[str, Reads]  # "cp" / "redirect" / "nginx"
    ranges: dict[str, Reads]
    memory: dict[str, Memory]  # "control plane" / "agent"


def record_file(stack: Stack, plan: Plan) -> dict:
    source_id = add_sources(stack.cp, stack.camera.url, 1, prefix="range-read")[0]
    make_group(stack.cp, "range-read", [source_id])
    start_tag(stack.cp, "range-read", "range-read")
    try:

        def has_video() -> bool:
            rows = records(stack.cp, "range-read")
            return bool(rows and rows[0]["location"] and record_path(rows[0], stack.agents).exists())

        wait_until(has_video, 30, interval=0.2, what="the recording's first bytes")
        time.sleep(plan.record_s)
    finally:
        stop_tag(stack.cp, "range-read")
    (record,) = records(stack.cp, "range-read")
    if record["status"] != "completed" or not record["hash_md5"]:
        raise RuntimeError(f"the recording did not complete: {record['status']} {record['error']}")
    return record


def measure(stack: Stack, plan: Plan) -> Result:
    record = record_file(stack, plan)
    path = record_path(record, stack.agents)
    size = path.stat().st_size
    mbit_s = 8 * size / record["duration_s"] / 1e6
    print(f"recorded {record['duration_s']:.1f} s: {size / MIB:.1f} MiB, {mbit_s:.1f} Mbit/s", flush=True)
    pids = {"control plane": stack.cp_pid, "agent": stack.agent_pid}
    with running_nginx(stack.tmp, stack.agent.storage) as nginx:
        urls = {
            "cp": f"{stack.cp.url}/api/v1/record/{record['id']}/video",
            "redirect": f"{stack.cp.url}/api/v1/record/{record['id']}/video?redirect=1",
            "signed": "",  # asked for per batch: it expires
            "nginx": f"{nginx.url}/{path.relative_to(stack.agent.storage)}",
        }
        servers = {"cp": pids, "redirect": pids, "signed": pids, "nginx": {"nginx": nginx.pid}}

        def url_of(server: str) -> str:
            if server != "signed":
                return urls[server]
            answer = httpx.get(f"{stack.cp.url}/api/v1/record/{record['id']}/video_url", timeout=10)
            answer.raise_for_status()
            return str(answer.json()["url"])

        def read(server: str, spans: list[tuple[int, int]] | None, into: dict[str, Reads]) -> None:
            """One curl batch, with the CPU of the server's processes (nginx: master and worker)."""
            url = url_of(server)
            before = {name: cpu_sample(pid).total for name, pid in servers[server].items()}
            reads = curl(url, spans)
            after = {name: cpu_sample(pid).total for name, pid in servers[server].items()}
            into[server].add(reads, {name: after[name] - before[name] for name in before})

        check_same_bytes([url_of(server) for server in SERVERS], path, record["hash_md5"])
        rng = random.Random(SEED)
        offsets = [rng.randrange(0, size - RANGE_SIZE) for _ in range(plan.ranges)]
        spans = [(o, o + RANGE_SIZE - 1) for o in offsets]
        for server in SERVERS:
            curl(url_of(server), spans[:5])  # warm-up: the gRPC channel and the code paths, not counted
        before = {name: rss_bytes(pid) for name, pid in pids.items()}
        if not all(reset_peak_rss(pid) for pid in pids.values()):
            raise RuntimeError("cannot reset the peak RSS (/proc/PID/clear_refs): run as root")
        for _ in range(plan.whole_reads):
            curl(urls["cp"], [(0, size // PREFIX - 1)])
        peak_prefix = {name: peak_rss_bytes(pid) for name, pid in pids.items()}
        for pid in pids.values():
            reset_peak_rss(pid)
        whole = {server: Reads() for server in SERVERS}
        for i in range(plan.whole_reads):
            for server in rotated(i):
                read(server, None, whole)
        peak_whole = {name: peak_rss_bytes(pid) for name, pid in pids.items()}
        for pid in pids.values():
            reset_peak_rss(pid)
        ranges = {server: Reads() for server in SERVERS}
        per_batch = len(spans) // RANGE_BATCHES
        for batch in range(RANGE_BATCHES):
            chunk = spans[batch * per_batch : (batch + 1) * per_batch]
            for server in rotated(batch):
                read(server, chunk, ranges)
        peak_ranges = {name: peak_rss_bytes(pid) for name, pid in pids.items()}
    memory = {
        name: Memory(before[name], peak_prefix[name], peak_whole[name], peak_ranges[name]) for name in pids
    }
    return Result(size, whole, ranges, memory)


def rotated(i: int) -> tuple[str, ...]:
    """The servers in a different order for each batch, so none always reads a warm cache first."""
    shift = i % len(SERVERS)
    return SERVERS[shift:] + SERVERS[:shift]


# --- report ----------------------------------------------------------------------------------------


def report(result: Result) -> None:
    rows = []
    for kind, reads in (("whole file", result.whole), ("1 MiB random ranges", result.ranges)):
        base = reads["nginx"]
        for server, label in (
            ("nginx", "nginx, sendfile (baseline)"),
            ("cp", "control plane proxy → agent HTTP (sendfile)"),
            ("redirect", "control plane 307 → agent (sendfile), new URL per request"),
            ("signed", "agent (sendfile), client keeps the signed URL"),
        ):
            r = reads[server]
            ms = [s * 1000 for s in r.seconds]
            per_mib = {name: 1000 * cpu / (sum(r.sizes) / MIB) for name, cpu in r.cpu_s.items()}
            rows.append(
                [
                    kind,
                    label,
                    len(r.sizes),
                    f"{sum(r.sizes) / MIB:.0f}",
                    f"{r.throughput / MIB:.0f}",
                    f"{percentile(ms, 50):.1f}",
                    f"{percentile(ms, 95):.1f}",
                    f"{statistics.fmean(ms):.1f}",
                    f"**{ratio(r.throughput, base.throughput)}**",
                    f"{sum(per_mib.values()):.2f}",
                    " + ".join(f"{name} {value:.2f}" for name, value in per_mib.items()),
                ]
            )
    headers = ["read", "server", "requests", "MiB read", "MiB/s", "p50 ms", "p95 ms", "mean ms", "vs nginx"]
    headers += ["server CPU ms per MiB", "of which"]
    print(markdown_table(headers, rows, align="llrrrrrrrrl"))
    print()
    rows = []
    for name, m in result.memory.items():
        rows.append(
            [
                name,
                mib(m.before),
                mib(m.peak_prefix),
                mib(m.peak_whole),
                mib(m.peak_ranges),
                f"{(max(m.peak_prefix, m.peak_whole, m.peak_ranges) - m.before) / MIB:+.1f}",
                f"{(m.peak_whole - m.peak_prefix) / MIB:+.1f}",
            ]
        )
    prefix = result.size // PREFIX
    headers = [
        "process",
        "RSS before MiB",
        f"peak RSS MiB, reading the first {prefix / MIB:.0f} MiB",
        f"peak RSS MiB, reading all {result.size / MIB:.0f} MiB",
        "peak RSS MiB, 1 MiB ranges",
        "peak growth over before MiB",
        "peak, whole file vs first 1/8, MiB",
    ]
    print(markdown_table(headers, rows))
    print()
    whole = result.whole["cp"].throughput / result.whole["nginx"].throughput
    ranges = result.ranges["cp"].throughput / result.ranges["nginx"].throughput
    whole_redirect = result.whole["redirect"].throughput / result.whole["nginx"].throughput
    ranges_redirect = result.ranges["redirect"].throughput / result.ranges["nginx"].throughput
    ranges_signed = result.ranges["signed"].throughput / result.ranges["nginx"].throughput
    cp = result.memory["control plane"]
    growth = cp.peak_whole - cp.peak_prefix
    goals = [
        [
            "whole-file throughput vs nginx, through the control plane's proxy (HTTP)",
            f"≥ {GOAL_RATIO:.2f}×",
            f"{whole:.2f}×",
            yes_no(whole >= GOAL_RATIO),
        ],
        [
            "1 MiB range throughput vs nginx, through the control plane's proxy (HTTP)",
            f"≥ {GOAL_RATIO:.2f}×",
            f"{ranges:.2f}×",
            yes_no(ranges >= GOAL_RATIO),
        ],
        [
            "whole-file throughput vs nginx, following the redirect",
            f"≥ {GOAL_RATIO:.2f}×",
            f"{whole_redirect:.2f}×",
            yes_no(whole_redirect >= GOAL_RATIO),
        ],
        [
            "1 MiB range throughput vs nginx, following the redirect",
            f"≥ {GOAL_RATIO:.2f}×",
            f"{ranges_redirect:.2f}×",
            yes_no(ranges_redirect >= GOAL_RATIO),
        ],
        [
            "1 MiB range throughput vs nginx, client keeps the signed URL",
            f"≥ {GOAL_RATIO:.2f}×",
            f"{ranges_signed:.2f}×",
            yes_no(ranges_signed >= GOAL_RATIO),
        ],
        [
            f"control plane peak RSS, whole {result.size / MIB:.0f} MiB file vs its first "
            f"{prefix / MIB:.0f} MiB (flat)",
            f"≤ {GOAL_RSS_SIZE_GROWTH / MIB:+.0f} MiB",
            f"{growth / MIB:+.1f} MiB",
            yes_no(growth <= GOAL_RSS_SIZE_GROWTH),
        ],
    ]
    print(markdown_table(["goal", "target", "measured", "met"], goals, align="lrrl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 15 s recording and fewer reads")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    nginx_binary()  # before anything starts: it may have to be installed
    with running_stack(camera=CAMERA, agent_env=AGENT_ENV) as stack:
        print(
            f"stack up in {time.monotonic() - started:.1f} s; camera {stack.camera.url} {CAMERA}; "
            f"recording {plan.record_s:g} s, {plan.whole_reads} whole reads and {plan.ranges} ranges "
            "per server\n",
            flush=True,
        )
        result = measure(stack, plan)
    print()
    report(result)
    print(f"\nwhole run (start-up, recording, reads, shutdown): {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
