"""A network partition with real parts: agent a1 runs in a network namespace of its own, joined to the
host by one link for the control plane and another for its camera (videorec_testing/netns.py). The test
takes the control-plane link down: a1 keeps recording (it still reaches the camera), the control plane
declares it down and continues its record on a2; the link comes back, a1 finalises what it recorded,
and gets no new source until it has been up for the stable period. PostgreSQL, an RTSP camera on the
host's end of the camera link, the control plane on every address with an API token."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.db import postgres_database
from videorec_testing.failover import age, agent_row, all_completed, stop_tag, ts, wait_placeable
from videorec_testing.media import ffprobe_json
from videorec_testing.netns import AgentNamespace, agent_namespace
from videorec_testing.processes import AgentProc, wait_agent_online, wait_until
from videorec_testing.records import download, make_group, records
from videorec_testing.stack import Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.xdist_group("failover")]
STABLE_S = 10.0
TOKEN = "partition-test-api-token"


@pytest.fixture
def ns() -> Iterator[AgentNamespace]:
    with agent_namespace() as ns:
        yield ns


@pytest.fixture
def camera(ns: AgentNamespace) -> Iterator[RtspCamera]:
    # On the host's end of the camera link: a1 reaches it through its own link, a2 as a local address.
    with start_rtsp_camera(host=ns.camera_host_ip) as cam:
        yield cam


@pytest.fixture
def stack(tmp_path: Path, ns: AgentNamespace) -> Iterator[tuple[Stack, AgentProc]]:
    env = {
        "VIDEOREC_FAILOVER_AFTER_S": "5",
        "VIDEOREC_FAILOVER_STABLE_S": str(STABLE_S),
        # a1 reaches it across its link; anything beyond loopback needs the API token.
        "VIDEOREC_HTTP_HOST": "0.0.0.0",  # noqa: S104 - the test's own namespace link
    }
    with (
        postgres_database() as url,
        start_stack(
            tmp_path,
            database_url=url,
            api_token=TOKEN,
            agent_names=["a2"],
            agent_envs=[{"VIDEOREC_AGENT_SITE": "A"}],
            cp_env=env,
        ) as stack,
    ):
        port = stack.cp.url.rsplit(":", 1)[1]
        cut_off = stack.add_agent(
            "a1",
            prefix=ns.exec_prefix,
            VIDEOREC_AGENT_SITE="A",
            VIDEOREC_AGENT_CONTROLPLANE_URL=f"http://{ns.cp_host_ip}:{port}",
            VIDEOREC_AGENT_GRPC_HOST=ns.agent_ip,
            VIDEOREC_AGENT_HTTP_HOST=ns.agent_ip,
        )
        yield stack, cut_off


def _bytes_on_disk(agent: AgentProc, record_id: str) -> int:
    """What the agent has written for a record so far, read from its disk (not through the API)."""
    return sum(p.stat().st_size for p in agent.storage.rglob(f"{record_id}*") if p.is_file()) + sum(
        p.stat().st_size for d in agent.storage.rglob(f"{record_id}.parts") for p in d.iterdir()
    )


def _placed(stack: Stack, source_id: int) -> str | None:
    with stack.cp.client() as c:
        return c.get(f"/api/v1/source/{source_id}").json()["agent"]


def test_a_cut_off_agent_keeps_recording_its_record_continues_elsewhere_and_both_are_kept(
    stack: tuple[Stack, AgentProc], ns: AgentNamespace, camera: RtspCamera, tmp_path: Path
):
    stack_, a1 = stack
    cp = stack_.cp
    (sid,) = make_group(cp, "g-cut", [{"uri_rtsp": camera.url, "site": "A"}])
    with cp.client() as c:
        assert c.post("/api/v1/record", json={"tag_name": "cut", "group_name": "g-cut"}).status_code == 200
    (first,) = records(cp, "cut")
    assert first["agent"] == "a1", first  # the least loaded agent, by name on a tie: the namespaced one
    wait_until(
        lambda: download(cp, first["id"], {"Range": "bytes=0-99"})[0] == 206, 60, 0.2, what="video on a1"
    )

    ns.cut()
    cut_at = time.time()
    on_disk_at_cut = _bytes_on_disk(a1, first["id"])

    def continued() -> dict | None:
        rows = [r for r in records(cp, "cut") if r["continues"] == first["id"]]
        if rows and download(cp, rows[0]["id"], {"Range": "bytes=0-99"})[0] == 206:
            return next(r for r in records(cp, "cut") if r["id"] == rows[0]["id"])
        return None

    cont = wait_until(continued, 30, 0.2, what="the record continued on a2")
    gap = ts(cont["begin_utc"]) - cut_at
    print(f"\npartition: cut → first frame of the continuation on a2 {gap:.2f} s")
    assert cont["agent"] == "a2" and gap <= 10.0
    assert agent_row(cp, "a1")["state"] == "offline"
    # Cut off from the control plane, not from its camera: a1 is still writing.
    wait_until(lambda: _bytes_on_disk(a1, first["id"]) > on_disk_at_cut + 100_000, 30, 0.3, what="a1 writing")
    assert a1.proc is not None and a1.proc.poll() is None

    ns.restore()
    restored_at = time.time()
    wait_agent_online(cp, "a1")
    # Back, but not stable: a new source of its site goes to a2 ...
    (fresh,) = make_group(cp, "g-fresh", [{"uri_rtsp": camera.url, "site": "A"}])
    assert wait_until(lambda: _placed(stack_, fresh), 20, 0.2, what="the new source placed") == "a2"
    # Decided within a1's stable period (counted from its first heartbeat back), so it counts.
    assert age(agent_row(cp, "a1")["up_since_utc"]) < STABLE_S
    # ... and once a1 has been up for the stable period, the next one goes to a1 (it has none).
    wait_placeable(cp, "a1", STABLE_S)
    (later,) = make_group(cp, "g-later", [{"uri_rtsp": camera.url, "site": "A"}])
    assert wait_until(lambda: _placed(stack_, later), 20, 0.2, what="the later source placed") == "a1"
    assert _placed(stack_, sid) == "a2"  # nothing moved back

    stop_tag(cp, "cut")
    rows = all_completed(cp, "cut", 2)
    assert len({r["id"] for r in rows}) == 2
    by_id = {r["id"]: r for r in rows}
    kept, cont = by_id[first["id"]], by_id[cont["id"]]
    assert kept["agent"] == "a1" and cont["agent"] == "a2" and cont["continues"] == kept["id"]
    # a1's record runs through the partition without a gap, to when it was told to stop after it.
    assert ts(kept["end_utc"]) > restored_at
    assert not [g for g in kept["gaps"] if ts(g["end_utc"]) > cut_at]
    for row in rows:
        status, _, data = download(cp, row["id"])
        assert status == 200 and len(data) == row["size_bytes"] and row["hash_md5"]
        assert hashlib.md5(data).hexdigest() == row["hash_md5"]  # noqa: S324 - the API's checksum
        path = tmp_path / f"{row['id']}.mp4"
        path.write_bytes(data)
        duration = float(ffprobe_json(path)["format"]["duration"])
        span = ts(row["end_utc"]) - ts(row["begin_utc"])
        assert abs(duration - span) <= 1.5, (row["agent"], duration, span)
