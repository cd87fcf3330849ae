"""Failover with real parts: two control-plane replicas on one PostgreSQL, three agents (two at site A,
one at site B) heartbeating to different replicas, an RTSP camera. Agents are killed with their ffmpeg
(a host that dies) or frozen (cut off from the control plane, not from the camera; a cut network link
is tests/e2e/test_partition.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from videorec_testing.cameras import RtspCamera
from videorec_testing.db import postgres_database
from videorec_testing.failover import (
    all_completed,
    declared_down,
    kill_host,
    stop_tag,
    ts,
    wait_placeable,
)
from videorec_testing.processes import AgentProc, frozen, wait_agent_online, wait_until
from videorec_testing.records import assert_plays, download, make_group, records
from videorec_testing.stack import Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.xdist_group("failover")]
SITES = {"a1": "A", "a2": "A", "b1": "B"}
STABLE_S = 6.0
GAPS: list[float] = []  # kill → first frame of the continuation, per test, for the report


def restart(stack: Stack, name: str, site: str | None = None) -> AgentProc:
    """The host comes back: the same agent, heartbeating to the replica it had."""
    replica = list(SITES).index(name) % len(stack.replicas) if name in SITES else 0
    return stack.add_agent(name, replica=replica, VIDEOREC_AGENT_SITE=site or SITES[name])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("failover")
    with (
        postgres_database() as url,
        start_stack(
            tmp,
            database_url=url,
            # Each agent reports to a replica of its own: the one that sees it go silent decides nothing alone.
            replicas=2,
            agent_names=list(SITES),
            agent_envs=[{"VIDEOREC_AGENT_SITE": site} for site in SITES.values()],
            cp_env={"VIDEOREC_FAILOVER_AFTER_S": "5", "VIDEOREC_FAILOVER_STABLE_S": str(STABLE_S)},
        ) as stack,
    ):
        try:
            yield stack
        finally:
            if GAPS:
                print(f"\nfailover gaps (kill → first frame of the continuation): {GAPS}")


def _has_bytes(stack: Stack, record_id: str, at_least: int = 100) -> bool:
    status, _, data = download(stack.cp, record_id, {"Range": f"bytes=0-{at_least - 1}"})
    return status == 206 and len(data) == at_least


def _record_one(stack: Stack, camera: RtspCamera, tag: str, **source: object) -> dict:
    """A one-source group recording under `tag`, with video on disk; returns the record."""
    make_group(stack.cp, f"g-{tag}", [{"uri_rtsp": camera.url, "description": tag, **source}])
    with stack.cp.client() as c:
        assert c.post("/api/v1/record", json={"tag_name": tag, "group_name": f"g-{tag}"}).status_code == 200
    (row,) = records(stack.cp, tag)
    wait_until(lambda: _has_bytes(stack, row["id"]), 60, 0.2, what=f"video of {tag}")
    return row


def _continuation(stack: Stack, tag: str, record_id: str) -> dict | None:
    """The record continuing `record_id`, once its video is on disk."""
    rows = [r for r in records(stack.cp, tag) if r["continues"] == record_id]
    if rows and _has_bytes(stack, rows[0]["id"]):
        return next(r for r in records(stack.cp, tag) if r["id"] == rows[0]["id"])  # begin = first frame now
    return None


def _status(stack: Stack, tag: str, record_id: str) -> str:
    return next(r["status"] for r in records(stack.cp, tag) if r["id"] == record_id)


def test_a_killed_agents_recording_continues_on_the_other_agent_of_its_site_within_10_s(
    stack: Stack, camera: RtspCamera, tmp_path: Path
):
    first = _record_one(stack, camera, "fo-kill", site="A")
    victim = first["agent"]
    wait_until(lambda: _has_bytes(stack, first["id"], 100_000), 30, 0.2, what="some video before the kill")
    killed_at = kill_host(stack.by_name(victim))

    cont = wait_until(lambda: _continuation(stack, "fo-kill", first["id"]), 20, 0.1, what="continuation")
    assert cont["agent"] != victim and cont["agent"] in ("a1", "a2")  # never site B
    gap = ts(cont["begin_utc"]) - killed_at
    GAPS.append(round(gap, 2))
    print(f"\nBENCH failover-gap-s {gap:.3f}")  # read by bench/failover_gaps.py
    assert gap <= 10.0, gap  # the issue's bound, from the files' own times
    (failover_gap,) = [g for g in cont["gaps"] if g["reason"] == "failover"]
    assert 0 < ts(failover_gap["end_utc"]) - ts(failover_gap["start_utc"]) <= 10.0, failover_gap

    # The host comes back: it is told to stop its record, and gets no new source until it is stable.
    restart(stack, victim)
    (new_id,) = make_group(stack.cp, "fo-new", [{"uri_rtsp": camera.url, "site": "A"}])

    def placed() -> str | None:
        with stack.cp.client() as c:
            return c.get(f"/api/v1/source/{new_id}").json()["agent"]

    assert wait_until(placed, 10, 0.2, what="the new source placed") == cont["agent"]
    # The returned agent finalises the record it was told to stop, while the continuation records on.
    wait_until(
        lambda: _status(stack, "fo-kill", first["id"]) == "completed", 60, 0.3, what="first record final"
    )
    stop_tag(stack.replicas[1], "fo-kill")

    rows = all_completed(stack.cp, "fo-kill", 2)
    assert [r["id"] for r in rows] == [first["id"], cont["id"]]  # one continuation, though two replicas
    for row in rows:
        status, _, data = download(stack.cp, row["id"])
        assert status == 200 and len(data) == row["size_bytes"] and row["hash_md5"]
    cont = rows[1]
    assert_plays(
        download(stack.cp, cont["id"])[2], tmp_path, ts(cont["end_utc"]) - ts(cont["begin_utc"]), 1.5
    )
    # The timeline: the first record up to the kill, one gap, the continuation after it.
    assert ts(rows[0]["begin_utc"]) < killed_at
    logs = [cp.log().count(f"agent {victim} declared down") for cp in stack.replicas]
    assert sorted(logs) == [0, 1], logs  # decided once, by one replica


def test_a_cut_off_agent_keeps_recording_and_both_records_are_finalised(stack: Stack, camera: RtspCamera):
    for name in ("a1", "a2"):
        wait_placeable(stack.cp, name, STABLE_S)
    first = _record_one(stack, camera, "fo-cut", site="A")
    victim = stack.by_name(first["agent"])
    frozen_at = time.time()
    with frozen(victim):  # its ffmpeg goes on writing: cut off, not dead
        cont = wait_until(lambda: _continuation(stack, "fo-cut", first["id"]), 20, 0.1, what="continuation")
    GAPS.append(round(ts(cont["begin_utc"]) - frozen_at, 2))
    wait_agent_online(stack.cp, victim.name)
    stop_tag(stack.cp, "fo-cut")

    rows = all_completed(stack.cp, "fo-cut", 2)
    assert len({r["id"] for r in rows}) == 2 and cont["id"] in {r["id"] for r in rows}
    assert {r["agent"] for r in rows} == {"a1", "a2"}
    assert all(r["hash_md5"] and r["size_bytes"] > 0 for r in rows)
    # The cut-off agent recorded through its outage: no gap in its record while it was frozen.
    assert rows[0]["agent"] == victim.name
    assert ts(rows[0]["end_utc"]) > ts(cont["begin_utc"])
    assert not [g for g in rows[0]["gaps"] if ts(g["end_utc"]) > frozen_at]


def test_failover_off_leaves_the_record_with_its_dead_agent(stack: Stack, camera: RtspCamera):
    for name in ("a1", "a2"):
        wait_placeable(stack.cp, name, STABLE_S)
    first = _record_one(stack, camera, "fo-off", site="A", failover=False)
    victim = first["agent"]
    killed_at = kill_host(stack.by_name(victim))
    wait_until(lambda: declared_down(stack.cp, victim, killed_at), 20, 0.2, what=f"{victim} declared down")
    assert [r["id"] for r in records(stack.cp, "fo-off")] == [first["id"]]
    with stack.cp.client() as c:
        source = c.get(f"/api/v1/source/{first['source']['id']}").json()
    assert source["agent"] == victim
    restart(stack, victim)
    stop_tag(stack.cp, "fo-off")


def test_a_site_b_source_never_fails_over_to_site_a_and_continues_once_site_b_has_an_agent(
    stack: Stack, camera: RtspCamera
):
    first = _record_one(stack, camera, "fo-site", site="B")
    assert first["agent"] == "b1"
    killed_at = kill_host(stack.by_name("b1"))
    wait_until(lambda: declared_down(stack.cp, "b1", killed_at), 20, 0.2, what="b1 declared down")
    # No agent of site B can take it: it waits (site A agents are online and have room).
    assert [r["id"] for r in records(stack.cp, "fo-site")] == [first["id"]]
    with stack.cp.client() as c:
        assert c.get(f"/api/v1/source/{first['source']['id']}").json()["agent"] == "b1"
    assert _status(stack, "fo-site", first["id"]) == "recording"

    # A new agent of site B joins while b1 is still down: a later failover check continues there.
    stack.add_agent("b2", VIDEOREC_AGENT_SITE="B")
    cont = wait_until(lambda: _continuation(stack, "fo-site", first["id"]), 30, 0.2, what="continued on b2")
    assert cont["agent"] == "b2"
    (failover_gap,) = [g for g in cont["gaps"] if g["reason"] == "failover"]
    assert ts(failover_gap["start_utc"]) < killed_at + 1  # from b1's last heartbeat, not from b2's arrival
    restart(stack, "b1")
    stop_tag(stack.cp, "fo-site")
    rows = all_completed(stack.cp, "fo-site", 2)
    assert {r["agent"] for r in rows} == {"b1", "b2"}
