"""What the failover tests share: a host that dies, the records of a tag, and what the files show."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from videorec_testing.processes import AgentProc, ControlPlane, wait_until


def kill_host(agent: AgentProc) -> float:
    """SIGKILL the agent and its ffmpeg children together, as a dying host would; returns when."""
    assert agent.proc is not None
    children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == agent.proc.pid]
    killed_at = time.time()
    for pid in [agent.proc.pid, *children]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    agent.proc.wait()
    agent.log_file.close()
    return killed_at


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def age(value: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(value)).total_seconds()


def agent_row(cp: ControlPlane, name: str) -> dict:
    with cp.client() as c:
        return next(a for a in c.get("/api/v1/agent").json() if a["name"] == name)


def declared_down(cp: ControlPlane, name: str, after: float) -> bool:
    down = agent_row(cp, name)["down_utc"]
    return down is not None and ts(down) > after


def wait_placeable(cp: ControlPlane, name: str, stable_s: float, timeout: float = 90) -> None:
    """A returned agent takes sources again once it has been up for `stable_s`."""

    def stable() -> bool:
        agent = agent_row(cp, name)
        if agent["state"] != "online":
            return False
        if agent["down_utc"] is None:
            return True
        return (
            ts(agent["up_since_utc"]) > ts(agent["down_utc"]) and age(agent["up_since_utc"]) > stable_s + 0.5
        )

    wait_until(stable, timeout, interval=0.2, what=f"agent {name} stable")


def stop_tag(cp: ControlPlane, tag: str) -> None:
    with cp.client(timeout=120) as c:
        assert c.put("/api/v1/record", json={"tag_name": tag}).status_code in (200, 202)


def all_completed(cp: ControlPlane, tag: str, count: int, timeout: float = 90) -> list[dict]:
    """The tag's records once there are `count` and every one is completed."""

    def finished() -> list[dict] | None:
        with cp.client() as c:
            rows = c.get("/api/v1/record", params={"tag_name": tag}).json()
        return rows if len(rows) == count and all(r["status"] == "completed" for r in rows) else None

    try:
        return wait_until(finished, timeout, interval=0.3, what=f"{count} records of {tag} completed")
    except AssertionError as exc:
        with cp.client() as c:
            rows = c.get("/api/v1/record", params={"tag_name": tag}).json()
        seen = [(r["id"][:8], r["agent"], r["status"], (r["continues"] or "")[:8], r["error"]) for r in rows]
        raise AssertionError(f"{exc}; the tag's records: {seen}") from None


def packet_times(path: Path) -> list[float]:
    """Presentation times of the video packets, in file order."""
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return sorted(float(line.split(",")[0]) for line in result.stdout.split() if line and line[0].isdigit())


def largest_step(times: list[float]) -> float:
    return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)
