"""Helpers of the recording benchmarks (recording_overhead, range_read, group_start): sources, groups
and tags through the REST API, several agents on one control plane, memory and CPU from /proc.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from agent.files.layout import RecordPaths, has_fragment
from bench.common import (
    CLK_TCK,
    _stat,
    child_pids,
    workspace,
)
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.processes import AgentProc, ControlPlane
from videorec_testing.records import record_file
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_quiet, wait_until

MIB = 1024 * 1024
GIB = 1024 * MIB
QUIET_S = 2.0  # no ffmpeg for this long: the agents' probes are over


# --- sources, groups and tags ----------------------------------------------------------------------


def add_sources(cp: ControlPlane, url: str, count: int, prefix: str = "bench") -> list[int]:
    ids = []
    with cp.client() as client:
        for i in range(count):
            body = {"model": "Source", "uri_rtsp": url, "description": f"{prefix} {i + 1}"}
            response = client.post("/api/v1/source", json=body)
            response.raise_for_status()
            ids.append(response.json()["id"])
    return ids


def make_group(cp: ControlPlane, name: str, source_ids: Iterable[int] = ()) -> int:
    with cp.client() as client:
        response = client.post("/api/v1/group", json={"name": name})
        response.raise_for_status()
        group_id = response.json()["id"]
    add_to_group(cp, group_id, source_ids)
    return group_id


def add_to_group(cp: ControlPlane, group_id: int, source_ids: Iterable[int]) -> None:
    with cp.client() as client:
        for source_id in source_ids:
            client.post(f"/api/v1/group/{group_id}/source/{source_id}").raise_for_status()


def sources(cp: ControlPlane) -> list[dict]:
    with cp.client() as client:
        response = client.get("/api/v1/source")
        response.raise_for_status()
        return response.json()


def wait_sources_placed(
    cp: ControlPlane, source_ids: Iterable[int], agent_pids: Iterable[int], timeout: float
) -> tuple[dict[str, int], int]:
    """Until every source is placed on an agent and the agents' first probes of them are over (no
    agent has run an ffmpeg for `QUIET_S`). Returns how many sources each agent holds and how many
    sources were probed.

    Not every source is probed: a source assigned while the agent's prober is in a round waits for
    the next round, `VIDEOREC_AGENT_PROBE_INTERVAL_S` later (600 s in the benchmarks)."""
    wanted, pids = set(source_ids), list(agent_pids)

    def placed() -> list[dict] | None:
        rows = [s for s in sources(cp) if s["id"] in wanted]
        return rows if len(rows) == len(wanted) and all(s["agent"] for s in rows) else None

    wait_until(placed, timeout, interval=0.25, what=f"{len(wanted)} sources placed")
    wait_quiet(lambda: any(child_pids(pid) for pid in pids), QUIET_S, timeout, what="the agents' probes over")
    rows = [s for s in sources(cp) if s["id"] in wanted]
    by_agent: dict[str, int] = {}
    for row in rows:
        by_agent[row["agent"]] = by_agent.get(row["agent"], 0) + 1
    return by_agent, sum(1 for s in rows if s["status"] != "unknown")


def _client(
    cp: ControlPlane, client: httpx.Client | None, timeout: float = 30.0
) -> contextlib.AbstractContextManager[httpx.Client]:
    """`client` as it is (kept open), or a new one closed after use."""
    return contextlib.nullcontext(client) if client is not None else cp.client(timeout=timeout)


def start_tag(cp: ControlPlane, tag: str, group_name: str, client: httpx.Client | None = None) -> float:
    """POST /api/v1/record; returns how long the answer took."""
    with _client(cp, client, timeout=120) as http:
        started = time.perf_counter()
        response = http.post("/api/v1/record", json={"tag_name": tag, "group_name": group_name})
        elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"start of tag {tag!r}: {response.status_code} {response.text[:300]}")
    return elapsed


def stop_tag(cp: ControlPlane, tag: str, timeout: float = 180.0) -> float:
    """PUT /api/v1/record, which returns once the agents have made and hashed the final files."""
    with cp.client(timeout=timeout) as client:
        started = time.perf_counter()
        response = client.put("/api/v1/record", json={"tag_name": tag})
        elapsed = time.perf_counter() - started
    if response.status_code not in (200, 202):
        raise RuntimeError(f"stop of tag {tag!r}: {response.status_code} {response.text[:300]}")
    if response.status_code == 202:  # some records stay `stopping` until their agent's next heartbeat
        print(f"stop of tag {tag!r}: 202, an agent was not reached in time; its records finish later")
    return elapsed


def records(cp: ControlPlane, tag: str, client: httpx.Client | None = None) -> list[dict]:
    with _client(cp, client) as http:
        response = http.get("/api/v1/record", params={"tag_name": tag})
        response.raise_for_status()
        return response.json()


def record_path(record: dict, agents: Sequence[AgentProc]) -> Path:
    """The file a record's `location` ("<agent>:<path under its storage root>") names; agents run on
    this host."""
    return record_file(record, next(a.storage for a in agents if a.name == record["agent"]))


def has_video(record: dict, agents: Sequence[AgentProc]) -> bool:
    """Whether a recording record has video on disk: a part holding a fragment. Its location names
    the part being written, or the final file until the agent's first ffmpeg run has begun."""
    path = record_path(record, agents)
    parts = path.parent if path.parent.suffix == ".parts" else RecordPaths.for_final(path).parts_dir
    return any(has_fragment(part) for part in parts.glob("part-*.mp4"))


@dataclass(frozen=True)
class Outcome:
    """How the records of a tag ended."""

    total: int
    completed: int  # status `completed` with an MD5
    dropped: int  # anything else: failed, still stopping, completed without a hash
    with_gaps: int
    min_duration_s: float | None
    errors: list[str] = field(default_factory=list)


def outcome(cp: ControlPlane, tag: str) -> Outcome:
    rows = records(cp, tag)
    completed = [r for r in rows if r["status"] == "completed" and r["hash_md5"]]
    durations = [r["duration_s"] for r in completed if r["duration_s"] is not None]
    errors = sorted({f"{r['status']}: {r['error']}" for r in rows if r not in completed})
    return Outcome(
        total=len(rows),
        completed=len(completed),
        dropped=len(rows) - len(completed),
        with_gaps=sum(1 for r in rows if r["gaps"]),
        min_duration_s=min(durations) if durations else None,
        errors=errors,
    )


# --- several agents on one control plane -----------------------------------------------------------


@dataclass
class Cluster:
    tmp: Path
    camera: RtspCamera
    cp: ControlPlane
    agents: list[AgentProc]

    def agent_pids(self) -> list[int]:
        return [a.proc.pid for a in self.agents if a.proc is not None]


@contextlib.contextmanager
def running_cluster(
    n_agents: int,
    *,
    camera: dict[str, int] | None = None,
    cp_env: dict[str, str] | None = None,
    agent_env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """A camera, a control plane and `n_agents` online agents, all stopped on exit (as
    `bench.common.running_stack`, in the same `workspace`)."""
    with workspace() as (tmp, stop):
        cam = start_rtsp_camera(**(camera or {}), log_dir=tmp)
        stop.callback(cam.stop)
        names = [f"bench-agent-{i + 1}" for i in range(n_agents)]
        stack = stop.enter_context(start_stack(tmp, agents=names, cp_env=cp_env, agent_env=agent_env))
        yield Cluster(tmp, cam, stack.cp, stack.agents)


# --- processes: CPU and memory from /proc ----------------------------------------------------------


def recorder_pids(agent_pid: int) -> list[int]:
    """The agent's recording ffmpeg children: the camera comes from stdin (`-i pipe:0`), the output
    is a part (`<record>.parts/part-NNNN.mp4`). Not its probes, the ffprobe of a new part, the joins
    or the live readers."""
    pids = []
    for pid in child_pids(agent_pid):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        except OSError:
            continue
        if b"pipe:0" in args and b".parts/part-" in args[-1]:
            pids.append(pid)
    return pids


def cpu_seconds(pid: int) -> float | None:
    """The process's own CPU time (user + system), None once it is gone."""
    try:
        fields = _stat(pid)
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes(pid: int) -> int:
    """Resident set size (0 once the process is gone)."""
    return (_status_kib(pid, "VmRSS") or 0) * 1024


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared pages (ffmpeg's libraries) split between the processes that map
    them, so a sum over processes is what they really take together."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def reset_peak_rss(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of a process; needs root or the same user."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes(pid: int) -> int:
    """VmHWM: the highest RSS since the process started or since `reset_peak_rss`."""
    return (_status_kib(pid, "VmHWM") or 0) * 1024


def mem_available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


@dataclass(frozen=True)
class MachineCpu:
    """/proc/stat's total and idle jiffies: subtract two for how busy the machine was in between."""

    total: int
    idle: int

    @classmethod
    def now(cls) -> MachineCpu:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return cls(sum(values[:8]), values[3] + values[4])  # idle + iowait; guest time is in user

    def busy_since(self, earlier: MachineCpu) -> float:
        """Fraction (0-1) of all cores' time that was busy."""
        total = self.total - earlier.total
        return 1 - (self.idle - earlier.idle) / total if total > 0 else 0.0


def wait_only_recorders(agent_pid: int, quiet_s: float, timeout: float = 30.0) -> None:
    """Until the agent has run no ffmpeg/ffprobe besides its recordings for `quiet_s` (it probes a
    new part a few times while its first fragments arrive)."""
    wait_quiet(
        lambda: set(child_pids(agent_pid)) - set(recorder_pids(agent_pid)),
        quiet_s,
        timeout,
        what="no ffmpeg but the recordings",
    )


def wait_no_recorders(agent_pids: Iterable[int], timeout: float = 60.0) -> None:
    pids = list(agent_pids)
    wait_until(
        lambda: not any(recorder_pids(p) for p in pids), timeout, interval=0.1, what="recording ffmpeg gone"
    )


def mib(value: float) -> str:
    return f"{value / MIB:.1f}"
