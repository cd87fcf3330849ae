"""Failover with real parts: two control-plane replicas on one PostgreSQL, three agents (two at site A,
one at site B) heartbeating to different replicas, an RTSP camera. Agents are killed with their ffmpeg
(a host that dies) or frozen (cut off from the control plane, not from the camera)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.test_recording import assert_plays, download, make_group, records
from tests.support.cameras import RtspCamera, start_rtsp_camera
from tests.support.db import postgres_database
from tests.support.processes import (
    AgentProc,
    ControlPlane,
    start_agent,
    start_controlplane,
    wait_agent_online,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.xdist_group("failover")]
SITES = {"a1": "A", "a2": "A", "b1": "B"}
STABLE_S = 6.0
GAPS: list[float] = []  # kill → first frame of the continuation, per test, for the report


class Cluster:
    def __init__(self, tmp: Path, replicas: list[ControlPlane]) -> None:
        self.tmp = tmp
        self.replicas = replicas
        self.agents: dict[str, AgentProc] = {}

    @property
    def cp(self) -> ControlPlane:
        return self.replicas[0]

    def start_agent(self, name: str) -> AgentProc:
        # Each agent reports to a replica of its own: the one that sees it go silent decides nothing alone.
        cp = self.replicas[list(SITES).index(name) % len(self.replicas)]
        agent = start_agent(self.tmp, cp, name=name, VIDEOREC_AGENT_SITE=SITES[name])
        self.agents[name] = agent
        wait_agent_online(self.replicas[-1], name, address=agent.address())
        return agent

    def agent(self, name: str) -> dict:
        with self.cp.client() as c:
            return next(a for a in c.get("/api/v1/agent").json() if a["name"] == name)

    def wait_placeable(self, name: str) -> None:
        """A returned agent takes sources again once it has been up for STABLE_S."""

        def stable() -> bool:
            agent = self.agent(name)
            if agent["state"] != "online":
                return False
            if agent["down_utc"] is None:
                return True
            up = datetime.fromisoformat(agent["up_since_utc"])
            return up > datetime.fromisoformat(agent["down_utc"]) and _age(up) > STABLE_S + 0.5

        wait_until(stable, 60, interval=0.2, what=f"agent {name} stable")


def _age(when: datetime) -> float:
    return (datetime.now(UTC) - when).total_seconds()


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


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    with start_rtsp_camera() as cam:
        yield cam


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("failover")
    with postgres_database() as url:
        env = {"VIDEOREC_FAILOVER_AFTER_S": "5", "VIDEOREC_FAILOVER_STABLE_S": str(STABLE_S)}
        cluster = Cluster(tmp, [start_controlplane(tmp / f"cp{i}", url, **env) for i in range(2)])
        try:
            for name in SITES:
                cluster.start_agent(name)
            yield cluster
        finally:
            for proc in [*cluster.agents.values(), *cluster.replicas]:
                proc.stop()
            if GAPS:
                print(f"\nfailover gaps (kill → first frame of the continuation): {GAPS}")


def _record_one(cluster: Cluster, camera: RtspCamera, tag: str, **source: object) -> dict:
    """A one-source group recording under `tag`, with video on disk; returns the record."""
    make_group(cluster.cp, f"g-{tag}", [{"uri_rtsp": camera.url, "description": tag, **source}])
    with cluster.cp.client() as c:
        assert c.post("/api/v1/record", json={"tag_name": tag, "group_name": f"g-{tag}"}).status_code == 200
    (row,) = records(cluster.cp, tag)
    wait_until(lambda: download(cluster.cp, row["id"], {"Range": "bytes=0-99"})[0] == 206, 60, 0.2)
    return row


def _continuation(cluster: Cluster, tag: str, record_id: str) -> dict | None:
    """The record continuing `record_id`, once its video is on disk."""
    rows = [r for r in records(cluster.cp, tag) if r["continues"] == record_id]
    if rows and download(cluster.cp, rows[0]["id"], {"Range": "bytes=0-99"})[0] == 206:
        return records(cluster.cp, tag)[-1]  # read again: its begin is its first frame by now
    return None


def _declared_down(cluster: Cluster, name: str, after: float) -> bool:
    down = cluster.agent(name)["down_utc"]
    return down is not None and datetime.fromisoformat(down).timestamp() > after


def test_a_killed_agents_recording_continues_on_the_other_agent_of_its_site_within_10_s(
    cluster: Cluster, camera: RtspCamera, tmp_path: Path
):
    first = _record_one(cluster, camera, "fo-kill", site="A")
    victim = first["agent"]
    time.sleep(2)  # some video before the kill
    killed_at = kill_host(cluster.agents[victim])

    cont = wait_until(lambda: _continuation(cluster, "fo-kill", first["id"]), 20, 0.1, what="continuation")
    seen_after = time.time() - killed_at
    assert cont["agent"] != victim and cont["agent"] in ("a1", "a2")  # never site B
    gap = datetime.fromisoformat(cont["begin_utc"]).timestamp() - killed_at
    GAPS.append(round(gap, 2))
    assert gap <= 10.0 and seen_after <= 11.0, (gap, seen_after)
    (failover_gap,) = [g for g in cont["gaps"] if g["reason"] == "failover"]
    recorded_gap = datetime.fromisoformat(failover_gap["end_utc"]) - datetime.fromisoformat(
        failover_gap["start_utc"]
    )
    assert 0 < recorded_gap.total_seconds() <= 10.0, failover_gap

    # The host comes back: it is told to stop its record, and gets no new source until it is stable.
    cluster.start_agent(victim)
    (new_id,) = make_group(cluster.cp, "fo-new", [{"uri_rtsp": camera.url, "site": "A"}])

    def placed() -> str | None:
        with cluster.cp.client() as c:
            return c.get(f"/api/v1/source/{new_id}").json()["agent"]

    assert wait_until(placed, 10, 0.2, what="the new source placed") == cont["agent"]
    time.sleep(3)
    with cluster.replicas[1].client(timeout=120) as c:
        assert c.put("/api/v1/record", json={"tag_name": "fo-kill"}).status_code in (200, 202)

    def finished() -> list[dict] | None:
        rows = records(cluster.cp, "fo-kill")
        return rows if all(r["status"] == "completed" for r in rows) else None

    rows = wait_until(finished, 60, interval=0.3, what="both records completed")
    assert [r["id"] for r in rows] == [first["id"], cont["id"]]  # one continuation, though two replicas
    for row in rows:
        status, _, data = download(cluster.cp, row["id"])
        assert status == 200 and len(data) == row["size_bytes"] and row["hash_md5"]
    cont = rows[1]
    span = datetime.fromisoformat(cont["end_utc"]) - datetime.fromisoformat(cont["begin_utc"])
    assert_plays(download(cluster.cp, cont["id"])[2], tmp_path, span.total_seconds(), tolerance=1.5)
    # The timeline: the first record up to the kill, one gap, the continuation after it.
    assert datetime.fromisoformat(rows[0]["begin_utc"]).timestamp() < killed_at
    logs = [cp.log().count(f"agent {victim} declared down") for cp in cluster.replicas]
    assert sorted(logs) == [0, 1], logs  # decided once, by one replica


def test_a_cut_off_agent_keeps_recording_and_both_records_are_finalised(cluster: Cluster, camera: RtspCamera):
    for name in ("a1", "a2"):
        cluster.wait_placeable(name)
    first = _record_one(cluster, camera, "fo-cut", site="A")
    victim = cluster.agents[first["agent"]]
    assert victim.proc is not None
    frozen_at = time.time()
    os.kill(victim.proc.pid, signal.SIGSTOP)  # its ffmpeg goes on writing: cut off, not dead
    try:
        cont = wait_until(lambda: _continuation(cluster, "fo-cut", first["id"]), 20, 0.1, what="continuation")
        GAPS.append(round(datetime.fromisoformat(cont["begin_utc"]).timestamp() - frozen_at, 2))
    finally:
        os.kill(victim.proc.pid, signal.SIGCONT)
    wait_agent_online(cluster.cp, victim.name)
    with cluster.cp.client(timeout=120) as c:
        assert c.put("/api/v1/record", json={"tag_name": "fo-cut"}).status_code in (200, 202)

    def finished() -> list[dict] | None:
        rows = records(cluster.cp, "fo-cut")
        return rows if all(r["status"] == "completed" for r in rows) else None

    rows = wait_until(finished, 60, interval=0.3, what="both records completed")
    assert len(rows) == 2 and len({r["id"] for r in rows}) == 2
    assert {r["agent"] for r in rows} == {"a1", "a2"}
    assert all(r["hash_md5"] and r["size_bytes"] > 0 for r in rows)
    # The cut-off agent recorded through its outage: no gap in its record while it was frozen.
    assert rows[0]["agent"] == victim.name
    assert datetime.fromisoformat(rows[0]["end_utc"]).timestamp() > frozen_at + 5
    assert not [g for g in rows[0]["gaps"] if datetime.fromisoformat(g["end_utc"]).timestamp() > frozen_at]


def test_failover_off_leaves_the_record_with_its_dead_agent(cluster: Cluster, camera: RtspCamera):
    for name in ("a1", "a2"):
        cluster.wait_placeable(name)
    first = _record_one(cluster, camera, "fo-off", site="A", failover=False)
    victim = first["agent"]
    killed_at = kill_host(cluster.agents[victim])
    wait_until(lambda: _declared_down(cluster, victim, killed_at), 20, 0.2, what=f"{victim} declared down")
    assert [r["id"] for r in records(cluster.cp, "fo-off")] == [first["id"]]
    with cluster.cp.client() as c:
        source = c.get(f"/api/v1/source/{first['source']['id']}").json()
    assert source["agent"] == victim
    cluster.start_agent(victim)
    with cluster.cp.client(timeout=120) as c:
        c.put("/api/v1/record", json={"tag_name": "fo-off"})


def test_a_site_b_source_never_fails_over_to_site_a(cluster: Cluster, camera: RtspCamera):
    first = _record_one(cluster, camera, "fo-site", site="B")
    assert first["agent"] == "b1"
    killed_at = kill_host(cluster.agents["b1"])
    wait_until(lambda: _declared_down(cluster, "b1", killed_at), 20, 0.2, what="b1 declared down")
    assert [r["id"] for r in records(cluster.cp, "fo-site")] == [first["id"]]
    with cluster.cp.client() as c:
        assert c.get(f"/api/v1/source/{first['source']['id']}").json()["agent"] == "b1"
    cluster.start_agent("b1")
    with cluster.cp.client(timeout=120) as c:
        c.put("/api/v1/record", json={"tag_name": "fo-site"})
