"""Dual recording with real parts: a source with `redundancy: 2` recorded by two of three site-A agents
at once (PostgreSQL, an RTSP camera); SIGKILL one of them → the other's file goes on without a gap, and
the third agent takes over the lost copy."""

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
    largest_step,
    packet_times,
    stop_tag,
    ts,
)
from videorec_testing.media import ffprobe_json
from videorec_testing.processes import wait_until
from videorec_testing.records import assert_plays, download, make_group, records, wait_video_s
from videorec_testing.stack import Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.xdist_group("failover")]
NAMES = ["a1", "a2", "a3"]
FRAME_S = 1 / 15  # the camera's frame interval


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("dual")
    with (
        postgres_database() as url,
        start_stack(
            tmp,
            database_url=url,
            replicas=2,
            agent_names=NAMES,
            agent_envs=[{"VIDEOREC_AGENT_SITE": "A"}] * len(NAMES),
            cp_env={"VIDEOREC_FAILOVER_AFTER_S": "5", "VIDEOREC_FAILOVER_STABLE_S": "6"},
        ) as stack,
    ):
        yield stack


def _has_bytes(stack: Stack, record_id: str) -> bool:
    return download(stack.cp, record_id, {"Range": "bytes=0-99"})[0] == 206


def _has_video(stack: Stack, tag: str, count: int) -> list[dict] | None:
    rows = records(stack.cp, tag)
    if len(rows) == count and all(
        download(stack.cp, r["id"], {"Range": "bytes=0-99"})[0] == 206 for r in rows
    ):
        return rows
    return None


def test_a_dual_source_loses_no_video_when_one_of_its_agents_dies(
    stack: Stack, camera: RtspCamera, tmp_path: Path
):
    (sid,) = make_group(stack.cp, "g-dual", [{"uri_rtsp": camera.url, "site": "A", "redundancy": 2}])
    with stack.cp.client() as c:
        assert c.post("/api/v1/record", json={"tag_name": "dual", "group_name": "g-dual"}).status_code == 200
    pair = wait_until(lambda: _has_video(stack, "dual", 2), 60, 0.2, what="both copies recording")
    assert len({r["agent"] for r in pair}) == 2 and {r["source"]["id"] for r in pair} == {sid}
    assert all(r["status"] == "recording" for r in pair)

    # Some seconds of video on both, then the host of one copy dies with its ffmpeg.
    for row in pair:
        wait_video_s(stack.cp, row["id"], 3.0)
    with stack.cp.client() as c:
        first_agent = c.get(f"/api/v1/source/{sid}").json()["agent"]
    # The copy on the source's first agent dies: its second is promoted (the other case is below).
    victim, survivor = sorted(pair, key=lambda r: r["agent"] != first_agent)
    killed_at = kill_host(stack.by_name(victim["agent"]))
    (third,) = set(NAMES) - {victim["agent"], survivor["agent"]}

    # The third agent of the site takes over the lost copy; the survivor never stopped.
    def continued() -> dict | None:
        rows = [r for r in records(stack.cp, "dual") if r["continues"] == victim["id"]]
        return rows[0] if rows and _has_bytes(stack, rows[0]["id"]) else None

    # With video: a record stopped before its first frame has nothing to keep, and fails saying so.
    cont = wait_until(continued, 30, 0.2, what="the lost copy continued")
    assert cont["agent"] == third
    with stack.cp.client() as c:
        source = c.get(f"/api/v1/source/{sid}").json()
    assert {source["agent"], source["second_agent"]} == {survivor["agent"], third}
    wait_until(lambda: time.time() > killed_at + 8, 10, 0.2)  # the survivor records past the outage
    stop_tag(stack.replicas[1], "dual")
    # The dead agent's copy stays `stopping` until its host returns; the other two finish now.
    wait_until(
        lambda: {r["id"]: r["status"] for r in records(stack.cp, "dual")}.get(survivor["id"]) == "completed",
        60,
        0.3,
    )
    stack.add_agent(victim["agent"], VIDEOREC_AGENT_SITE="A")
    rows = all_completed(stack.cp, "dual", 3)
    assert len({r["id"] for r in rows}) == 3
    by_id = {r["id"]: r for r in rows}
    kept = by_id[survivor["id"]]

    # The survivor's file: no gap listed, its packets a frame apart all the way, its length its span.
    assert kept["gaps"] == []
    assert ts(kept["begin_utc"]) < killed_at - 2 and ts(kept["end_utc"]) > killed_at + 5
    status, _, data = download(stack.cp, kept["id"])
    assert status == 200 and len(data) == kept["size_bytes"] and kept["hash_md5"]
    path = tmp_path / "survivor.mp4"
    path.write_bytes(data)
    step = largest_step(packet_times(path))
    assert step < 5 * FRAME_S, step
    span = ts(kept["end_utc"]) - ts(kept["begin_utc"])
    duration = assert_plays(data, tmp_path, span, tolerance=1.5)
    # read by bench/failover_gaps.py: the surviving copy's largest step, and what its length lacks of its span
    replaced = ts(by_id[cont["id"]]["begin_utc"]) - killed_at
    print(
        f"\nBENCH dual-step-s {step:.3f} dual-missing-s {max(0.0, span - duration):.3f} dual-third-s {replaced:.3f}"
    )
    # Every copy plays, the dead agent's too (its host came back and finalised it).
    for row in rows:
        status, _, data = download(stack.cp, row["id"])
        assert status == 200 and len(data) == row["size_bytes"] and row["hash_md5"]
        played = tmp_path / f"{row['id']}.mp4"
        played.write_bytes(data)
        assert float(ffprobe_json(played)["format"]["duration"]) > 1.0, row


def test_a_lost_copy_is_taken_over_by_an_agent_of_the_site_that_joins_later(stack: Stack, camera: RtspCamera):
    for name in ("d1", "d2"):
        stack.add_agent(name, VIDEOREC_AGENT_SITE="D")
    (sid,) = make_group(stack.cp, "g-late", [{"uri_rtsp": camera.url, "site": "D", "redundancy": 2}])
    with stack.cp.client() as c:
        assert c.post("/api/v1/record", json={"tag_name": "late", "group_name": "g-late"}).status_code == 200
    pair = wait_until(lambda: _has_video(stack, "late", 2), 60, 0.2, what="both copies recording")
    assert {r["agent"] for r in pair} == {"d1", "d2"}
    with stack.cp.client() as c:
        second_agent = c.get(f"/api/v1/source/{sid}").json()["second_agent"]
    # This time the second copy's agent dies (the first's is above).
    victim, survivor = sorted(pair, key=lambda r: r["agent"] != second_agent)
    killed_at = kill_host(stack.by_name(victim["agent"]))
    wait_until(lambda: declared_down(stack.cp, victim["agent"], killed_at), 20, 0.2, what="declared down")
    # No third agent in site D: the survivor records alone, nothing is continued elsewhere.
    assert sorted(r["id"] for r in records(stack.cp, "late")) == sorted([victim["id"], survivor["id"]])
    with stack.cp.client() as c:
        assert c.get(f"/api/v1/source/{sid}").json()["agent"] == survivor["agent"]

    stack.add_agent("d3", VIDEOREC_AGENT_SITE="D")  # joins while the lost agent is still down

    def continued() -> dict | None:
        rows = [r for r in records(stack.cp, "late") if r["continues"] == victim["id"]]
        return rows[0] if rows and _has_bytes(stack, rows[0]["id"]) else None

    assert wait_until(continued, 30, 0.2, what="the lost copy continued on d3")["agent"] == "d3"
    with stack.cp.client() as c:
        source = c.get(f"/api/v1/source/{sid}").json()
    assert (source["agent"], source["second_agent"]) == (survivor["agent"], "d3")
    stack.add_agent(victim["agent"], VIDEOREC_AGENT_SITE="D")
    stop_tag(stack.cp, "late")
    rows = all_completed(stack.cp, "late", 3)
    assert sorted(r["agent"] for r in rows) == ["d1", "d2", "d3"]
    assert next(r for r in rows if r["id"] == survivor["id"])["gaps"] == []


def test_a_second_copy_that_found_no_agent_records_once_one_of_its_site_joins(
    stack: Stack, camera: RtspCamera
):
    stack.add_agent("e1", VIDEOREC_AGENT_SITE="E")
    (sid,) = make_group(stack.cp, "g-alone", [{"uri_rtsp": camera.url, "site": "E", "redundancy": 2}])
    with stack.cp.client() as c:
        assert (
            c.post("/api/v1/record", json={"tag_name": "alone", "group_name": "g-alone"}).status_code == 200
        )
    rows = records(stack.cp, "alone")
    (missing,) = [r for r in rows if r["agent"] is None]
    assert missing["status"] == "failed" and "no second online agent of site E" in missing["error"]
    (first,) = [r for r in rows if r["agent"] == "e1"]
    wait_until(lambda: _has_bytes(stack, first["id"]), 60, 0.2, what="the first copy recording")

    stack.add_agent("e2", VIDEOREC_AGENT_SITE="E")  # the site gets its second agent while the tag records

    def placed() -> dict | None:
        rows = [r for r in records(stack.cp, "alone") if r["continues"] == missing["id"]]
        return rows[0] if rows and _has_bytes(stack, rows[0]["id"]) else None

    copy = wait_until(placed, 30, 0.2, what="the missing second copy recording on e2")
    assert copy["agent"] == "e2" and [g["reason"] for g in copy["gaps"]] == ["failover"]
    with stack.cp.client() as c:
        source = c.get(f"/api/v1/source/{sid}").json()
    assert (source["agent"], source["second_agent"]) == ("e1", "e2")
    stop_tag(stack.cp, "alone")

    def copies_completed() -> list[dict] | None:
        rows = records(stack.cp, "alone")
        copies = [r for r in rows if r["id"] != missing["id"]]
        return copies if len(rows) == 3 and all(r["status"] == "completed" for r in copies) else None

    # Placed once, though two replicas look every second; the failed record stays as it was.
    done = wait_until(copies_completed, 90, 0.3, what="both copies completed")
    assert sorted(r["agent"] for r in done) == ["e1", "e2"] and all(r["hash_md5"] for r in done)
    assert next(r for r in records(stack.cp, "alone") if r["id"] == missing["id"])["status"] == "failed"
