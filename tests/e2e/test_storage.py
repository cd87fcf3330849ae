"""Storage through the real stack: an agent whose storage is a small tmpfs this test mounts.

The disk fills while recording → the record pauses (still `recording`, a detail, the agent shows
that it is pausing); space returns → it records again by itself; the stop completes with the MD5
of the bytes served, the gap reaches the API, and the whole record plays from its first second."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.media import ffprobe_json
from videorec_testing.processes import AgentProc, ControlPlane
from videorec_testing.records import assert_plays, download, make_group, records, span_minus_gaps, wait_bytes
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("storage")]

MIB = 1 << 20
RESERVE = 16 * MIB
AGENT = "st-agent"


@pytest.fixture
def camera() -> Iterator[RtspCamera]:
    with start_rtsp_camera(bitrate=4000) as cam:
        yield cam


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[ControlPlane, AgentProc, Path]]:
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("mounting a tmpfs needs root (CI runs as root and never skips this)")
    disk = tmp_path / f"storage-{AGENT}"  # where the stack puts the agent's storage
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", str(disk)], check=True)
    agent_env = {"VIDEOREC_AGENT_MIN_FREE_BYTES": str(RESERVE), "VIDEOREC_AGENT_STALL_TIMEOUT_S": "4"}
    try:
        with start_stack(tmp_path, agents=[AGENT], agent_env=agent_env) as running:
            yield running.cp, running.agent, disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def agent_row(cp: ControlPlane) -> dict:
    with cp.client() as c:
        (row,) = [a for a in c.get("/api/v1/agent").json() if a["name"] == AGENT]
        return row


def test_a_full_disk_pauses_records_and_they_go_on_when_space_returns(
    stack: tuple[ControlPlane, AgentProc, Path], camera: RtspCamera, tmp_path: Path
) -> None:
    cp, _agent, disk = stack
    make_group(cp, "full-disk", [{"model": "Source", "uri_rtsp": camera.url, "description": "busy cam"}])
    with cp.client() as c:
        assert (
            c.post("/api/v1/record", json={"tag_name": "fd-1", "group_name": "full-disk"}).status_code == 200
        )
    (record,) = wait_bytes(cp, "fd-1")
    row = agent_row(cp)
    assert row["disk_reserve_bytes"] == RESERVE and row["pausing_for_space"] is False
    assert 40 * MIB < row["disk_total_bytes"] <= 48 * MIB and row["disk_free_bytes"] > RESERVE

    filler = disk / "filler"
    filler.write_bytes(b"\0" * (os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize - RESERVE - 2 * MIB))
    wait_until(lambda: agent_row(cp)["pausing_for_space"], 60, interval=0.2, what="the agent pausing")
    (paused,) = records(cp, "fd-1")
    assert paused["status"] == "recording" and "disk full" in (paused["error"] or ""), paused

    # While paused (and recording), the whole record so far is served, from its first second.
    status, _, so_far = download(cp, record["id"])
    assert status == 200 and len(so_far) > MIB
    partial = tmp_path / "so-far.mp4"
    partial.write_bytes(so_far)
    assert float(ffprobe_json(partial)["format"]["duration"]) > 1.0
    first_second = [
        "ffmpeg",
        "-v",
        "error",
        "-ss",
        "0.5",
        "-i",
        str(partial),
        "-frames:v",
        "1",
        "-f",
        "null",
        "-",
    ]
    subprocess.run(first_second, check=True, timeout=60)

    filler.unlink()
    wait_until(lambda: not agent_row(cp)["pausing_for_space"], 30, interval=0.2, what="the record to go on")
    wait_until(lambda: records(cp, "fd-1")[0]["gaps"], 30, interval=0.2, what="video after the pause")
    # The run after the pause writes the record's file itself: no other file holds what it records,
    # nothing is copied (no recorded byte is written twice, and a stop has nothing left to join).
    (parts,) = disk.rglob("*.parts")
    assert [p.name for p in parts.iterdir()] == ["part-0001.mp4"], list(parts.iterdir())
    with cp.client() as c:
        assert c.put("/api/v1/record", json={"tag_name": "fd-1"}).status_code == 200
    (done,) = records(cp, "fd-1")
    assert done["status"] == "completed", done
    # The pause, as one gap of reason `disk` in the API. A camera served from a loaded machine may
    # also stall for a moment (seen in CI: 2 s at the start); such a gap must say `camera`.
    reasons = [gap["reason"] for gap in done["gaps"]]
    assert reasons.count("disk") == 1 and set(reasons) <= {"disk", "camera"}, done["gaps"]
    status, _, data = download(cp, done["id"])
    assert status == 200 and hashlib.md5(data).hexdigest() == done["hash_md5"]  # noqa: S324 - the API's checksum
    assert len(data) == done["size_bytes"] and data[: len(so_far) // 2] == so_far[: len(so_far) // 2]
    assert_plays(data, tmp_path, span_minus_gaps(done), tolerance=1.5)


def test_retention_evicts_old_records_but_never_a_protected_tag(tmp_path: Path, camera: RtspCamera) -> None:
    agent_env = {"VIDEOREC_AGENT_RETENTION_MAX_AGE_S": "2"}
    with start_stack(tmp_path, agents=["ret-agent"], agent_env=agent_env) as stack:
        cp, agent = stack.cp, stack.agent
        make_group(cp, "ret", [{"model": "Source", "uri_rtsp": camera.url, "description": "cam"}])
        with cp.client() as c:
            for tag in ("keep", "drop"):
                assert (
                    c.post("/api/v1/record", json={"tag_name": tag, "group_name": "ret"}).status_code == 200
                )
                if tag == "keep":
                    answer = c.put("/api/v1/tag", params={"name": "keep"}, json={"protected": True})
                    assert answer.status_code == 200 and answer.json()["protected"] is True
                wait_bytes(cp, tag)
                assert c.put("/api/v1/record", json={"tag_name": tag}).status_code == 200
        (dropped,) = wait_until(
            lambda: [r for r in records(cp, "drop") if r["status"] == "deleted"],
            30,
            interval=0.2,
            what="eviction",
        )
        assert dropped["error"] == "evicted by retention: max age", dropped
        assert "evicted by retention (max age)" in agent.log()
        with cp.client() as c:
            kept = c.get("/api/v1/tag", params={"name": "keep"}).json()
        assert kept["protected"] is True and [r["status"] for r in kept["records"]] == ["completed"]
        assert download(cp, kept["records"][0]["id"])[0] == 200
