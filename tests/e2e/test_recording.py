"""Recording by tag through the real stack: control plane, agent over gRPC, ffmpeg, RTSP camera."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.cameras import RtspCamera, start_http_camera, start_rtsp_camera
from tests.support.media import ffprobe_json
from tests.support.processes import (
    AgentProc,
    ControlPlane,
    start_agent,
    start_controlplane,
    wait_agent_online,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("recording")]
GROWN_BYTES = 150_000  # a few seconds of the test camera's video


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    with start_rtsp_camera() as cam:
        yield cam


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, AgentProc]]:
    tmp = tmp_path_factory.mktemp("recording")
    cp = start_controlplane(tmp)
    agent = start_agent(tmp, cp, VIDEOREC_AGENT_STALL_TIMEOUT_S="4")
    try:
        wait_agent_online(cp, agent.name)
        yield cp, agent
    finally:
        agent.stop()
        cp.stop()


def make_group(cp: ControlPlane, name: str, sources: list[dict]) -> list[int]:
    ids = []
    with cp.client() as c:
        group = c.post("/api/v1/group", json={"name": name}).json()
        for body in sources:
            source = c.post("/api/v1/source", json=body).json()
            assert c.post(f"/api/v1/group/{group['id']}/source/{source['id']}").json() is True
            ids.append(source["id"])
    return ids


def records(cp: ControlPlane, tag: str) -> list[dict]:
    with cp.client() as c:
        return c.get("/api/v1/record", params={"tag_name": tag}).json()


def download(cp: ControlPlane, record_id: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    with cp.client(timeout=60) as c:
        response = c.get(f"/api/v1/record/{record_id}/video/", headers=headers or {})
        return response.status_code, dict(response.headers), response.content


def wait_bytes(cp: ControlPlane, tag: str) -> list[dict]:
    """Wait until every record of the tag has video on disk (ffmpeg probes ~2 s before writing)."""

    def ready() -> list[dict] | None:
        rows = records(cp, tag)
        ok = all(
            download(cp, r["id"], {"Range": "bytes=0-99"})[0] == 206
            for r in rows
            if r["status"] == "recording"
        )
        return rows if ok else None

    return wait_until(ready, 60, interval=0.2, what=f"video of {tag}")


def assert_plays(data: bytes, tmp_path: Path, expected_s: float, tolerance: float = 1.0) -> float:
    path = tmp_path / f"{hashlib.md5(data).hexdigest()}.mp4"  # noqa: S324 - a file name
    path.write_bytes(data)
    duration = float(ffprobe_json(path)["format"]["duration"])
    assert abs(duration - expected_s) <= tolerance, (duration, expected_s)
    return duration


def span_minus_gaps(record: dict) -> float:
    span = (
        datetime.fromisoformat(record["end_utc"]) - datetime.fromisoformat(record["begin_utc"])
    ).total_seconds()
    return span - sum(
        (datetime.fromisoformat(g["end_utc"]) - datetime.fromisoformat(g["start_utc"])).total_seconds()
        for g in record["gaps"]
    )


def test_record_a_group_stop_and_get_verified_playable_files(
    stack, camera: RtspCamera, tmp_path: Path
) -> None:
    cp, agent = stack
    make_group(
        cp,
        "north-gate",
        [
            {"model": "Source", "uri_rtsp": camera.url, "description": "cam A"},
            {"model": "Source", "uri_rtsp": camera.url, "description": "cam B"},
        ],
    )
    with cp.client() as c:
        assert (
            c.post("/api/v1/record", json={"tag_name": "match-1", "group_name": "north-gate"}).status_code
            == 200
        )
        assert c.get("/api/v1/record/runing", params={"tag_name": "match-1"}).json() is True
        assert c.get("/api/v1/record/running/", params={"tag_name": "match-1"}).json() is True
        assert "match-1" in c.get("/api/v1/tag/begin").json()
        again = c.post("/api/v1/record", json={"tag_name": "match-1", "group_name": "north-gate"})
        assert again.status_code == 409
    started = records(cp, "match-1")
    assert [r["status"] for r in started] == ["recording", "recording"]
    assert all(r["location"].startswith(f"{agent.name}:") for r in started)

    # While recording, the bytes written so far are served (a browser can start playing).
    wait_until(
        lambda: download(cp, started[0]["id"], {"Range": "bytes=0-99"})[0] == 206, 60, what="first bytes"
    )
    status, headers, body = download(cp, started[0]["id"], {"Range": "bytes=0-99"})
    assert headers["content-range"].startswith("bytes 0-99/")
    assert len(body) == 100 and body[4:8] == b"ftyp"
    # Ranges past the first bytes follow the file as it grows, to the bytes written so far.
    far = GROWN_BYTES - 100
    status, headers, body = wait_until(
        lambda: (
            (got := download(cp, started[0]["id"], {"Range": f"bytes={far}-{far + 99}"}))[0] == 206 and got
        ),
        60,
        what="the file to grow",
    )
    size_then = int(headers["content-range"].rsplit("/", 1)[1])
    assert size_then >= GROWN_BYTES and headers["content-range"] == f"bytes {far}-{far + 99}/{size_then}"
    assert len(body) == 100
    growing = download(cp, started[0]["id"], {"Range": f"bytes={size_then + 10_000_000}-"})
    assert growing[0] == 416 and growing[1]["content-range"].startswith("bytes */")

    with cp.client(timeout=120) as c:
        assert c.put("/api/v1/record", json={"tag_name": "match-1"}).status_code == 200
        assert c.get("/api/v1/record/runing", params={"tag_name": "match-1"}).json() is False
        assert "match-1" not in c.get("/api/v1/tag/begin").json()
        tag = c.get("/api/v1/tag", params={"name": "match-1"}).json()
    assert len(tag["records"]) == 2
    for record in tag["records"]:
        assert record["status"] == "completed", record
        assert record["hash_md5"] and record["size_bytes"] > 0 and record["end_utc"]
        status, headers, data = download(cp, record["id"])
        assert status == 200
        assert headers["content-type"] == "video/mp4" and headers["accept-ranges"] == "bytes"
        assert hashlib.md5(data).hexdigest() == record["hash_md5"]  # noqa: S324 - the API's checksum
        assert len(data) == record["size_bytes"]
        assert_plays(data, tmp_path, span_minus_gaps(record), tolerance=1.0)
        # Ranges: first bytes, a middle slice, the tail, and one outside the file.
        size = len(data)
        assert download(cp, record["id"], {"Range": "bytes=0-1023"})[2] == data[:1024]
        status, headers, part = download(cp, record["id"], {"Range": f"bytes={size // 2}-"})
        assert status == 206 and part == data[size // 2 :]
        assert headers["content-range"] == f"bytes {size // 2}-{size - 1}/{size}"
        assert download(cp, record["id"], {"Range": "bytes=-500"})[2] == data[-500:]
        # A 416 says how big the file is (RFC 9110 §14.4): "bytes */SIZE", not "bytes */*".
        status, headers, _ = download(cp, record["id"], {"Range": f"bytes={size + 10}-"})
        assert status == 416 and headers["content-range"] == f"bytes */{size}"
        # The ETag is the content's MD5: a cache or a resuming download can tell the file changed.
        assert download(cp, record["id"])[1]["etag"] == f'"{record["hash_md5"]}"'


def test_delete_only_the_records_own_file(stack, camera: RtspCamera) -> None:
    cp, agent = stack
    make_group(cp, "delete-me", [{"model": "Source", "uri_rtsp": camera.url}])
    with cp.client(timeout=120) as c:
        c.post("/api/v1/record", json={"tag_name": "del-1", "group_name": "delete-me"})
        (record,) = wait_bytes(cp, "del-1")
        busy = c.delete(f"/api/v1/record/{record['id']}/file", params={"location": record["location"]})
        assert busy.status_code == 409
        time.sleep(1)
        c.put("/api/v1/record", json={"tag_name": "del-1"})
        (record,) = records(cp, "del-1")
        path = Path(record["location"].split(":", 1)[1])
        assert path.exists() and path.is_relative_to(agent.storage.resolve())
        before = sorted(p for p in agent.storage.rglob("*") if p.is_file())
        for bad in (
            "../../etc/passwd",
            "/etc/passwd",
            f"{agent.name}:/etc/passwd",
            f"{agent.name}:{path}/../x",
        ):
            response = c.delete(f"/api/v1/record/{record['id']}/file", params={"location": bad})
            assert response.status_code == 422, bad
        assert sorted(p for p in agent.storage.rglob("*") if p.is_file()) == before
        response = c.delete(f"/api/v1/record/{record['id']}/file/", params={"location": record["location"]})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "deleted"
        assert not path.exists()
        assert c.get(f"/api/v1/record/{record['id']}/video").status_code == 404


def test_a_source_on_a_missing_agent_fails_and_the_others_record(stack, camera: RtspCamera) -> None:
    cp, _ = stack
    make_group(
        cp,
        "half-down",
        [
            {"model": "Source", "uri_rtsp": camera.url},
            {"model": "Source", "uri_rtsp": camera.url, "agent": "ghost"},
        ],
    )
    with cp.client(timeout=120) as c:
        assert (
            c.post("/api/v1/record", json={"tag_name": "half", "group_name": "half-down"}).status_code == 200
        )
        by_status = {r["status"]: r for r in records(cp, "half")}
        assert set(by_status) == {"recording", "failed"}
        assert "ghost" in by_status["failed"]["error"]
        wait_bytes(cp, "half")
        time.sleep(1)
        assert c.put("/api/v1/record", json={"tag_name": "half"}).status_code == 200
    assert sorted(r["status"] for r in records(cp, "half")) == ["completed", "failed"]


def test_picture_source_makes_a_timelapse_of_wall_clock_length(stack, tmp_path: Path) -> None:
    cp, _ = stack
    with start_http_camera(auth="digest", user="u", password="pw-1234") as cam:
        make_group(
            cp,
            "stills",
            [
                {
                    "model": "PictureSource",
                    "uri_http_picture": {
                        "uri": cam.url,
                        "auth": "digest",
                        "user": "u",
                        "password": "pw-1234",
                    },
                }
            ],
        )
        with cp.client(timeout=120) as c:
            c.post(
                "/api/v1/record",
                json={"tag_name": "stills-1", "group_name": "stills", "model": "PictureSource"},
            )
            time.sleep(5)
            assert c.put("/api/v1/record", json={"tag_name": "stills-1"}).status_code == 200
    (record,) = records(cp, "stills-1")
    assert record["status"] == "completed", record
    _, _, data = download(cp, record["id"])
    span = (
        datetime.fromisoformat(record["end_utc"]) - datetime.fromisoformat(record["begin_utc"])
    ).total_seconds()
    assert_plays(data, tmp_path, span, tolerance=1.0)  # one frame interval (the agent's default 1 s)
    path = tmp_path / "still.mp4"
    path.write_bytes(data)
    assert ffprobe_json(path)["streams"][0]["codec_name"] == "h264"


def test_agent_killed_and_restarted_resumes_and_loses_nothing(tmp_path: Path, camera: RtspCamera) -> None:
    cp = start_controlplane(tmp_path)
    agent = start_agent(tmp_path, cp, name="phoenix")
    try:
        wait_agent_online(cp, "phoenix")
        make_group(cp, "restart", [{"model": "Source", "uri_rtsp": camera.url}])
        with cp.client(timeout=120) as c:
            c.post("/api/v1/record", json={"tag_name": "r-1", "group_name": "restart"})
            time.sleep(3)
            agent.kill()
            agent = start_agent(tmp_path, cp, name="phoenix")
            wait_agent_online(cp, "phoenix", address=agent.address())
            time.sleep(3)
            assert c.put("/api/v1/record", json={"tag_name": "r-1"}).status_code == 200
        (record,) = records(cp, "r-1")
        assert record["status"] == "completed", record
        _, _, data = download(cp, record["id"])
        # Nothing recorded before the kill is lost: the file covers the span minus the downtime gap.
        assert_plays(data, tmp_path, span_minus_gaps(record), tolerance=1.5)
        assert span_minus_gaps(record) > 4.5
    finally:
        agent.stop()
        cp.stop()


def test_stop_while_the_agent_is_unreachable_finishes_when_it_returns(
    tmp_path: Path, camera: RtspCamera
) -> None:
    import os
    import signal

    cp = start_controlplane(tmp_path)
    agent = start_agent(tmp_path, cp, name="frozen")
    try:
        wait_agent_online(cp, "frozen")
        make_group(cp, "frozen-group", [{"model": "Source", "uri_rtsp": camera.url}])
        with cp.client(timeout=60) as c:
            c.post("/api/v1/record", json={"tag_name": "f-1", "group_name": "frozen-group"})
            wait_bytes(cp, "f-1")
            time.sleep(1)
            assert agent.proc is not None
            os.kill(agent.proc.pid, signal.SIGSTOP)  # the agent host drops off the network
            wait_until(
                lambda: (
                    next(a for a in c.get("/api/v1/agent").json() if a["name"] == "frozen")["state"]
                    == "offline"
                ),
                30,
                what="agent offline",
            )
            started = time.monotonic()
            response = c.put("/api/v1/record", json={"tag_name": "f-1"})
            assert response.status_code == 202 and time.monotonic() - started < 2
            (record,) = records(cp, "f-1")
            assert record["status"] == "stopping"
            os.kill(agent.proc.pid, signal.SIGCONT)
            wait_until(lambda: records(cp, "f-1")[0]["status"] == "completed", 30, what="record finalised")
        (record,) = records(cp, "f-1")
        assert record["hash_md5"]
        _, _, data = download(cp, record["id"])
        assert hashlib.md5(data).hexdigest() == record["hash_md5"]  # noqa: S324
        assert_plays(data, tmp_path, span_minus_gaps(record), tolerance=1.0)
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            os.kill(agent.proc.pid, signal.SIGCONT)
        agent.stop()
        cp.stop()


def test_recording_goes_on_while_the_control_plane_is_down(tmp_path: Path, camera: RtspCamera) -> None:
    cp = start_controlplane(tmp_path)
    port = int(cp.url.rsplit(":", 1)[1])
    agent = start_agent(tmp_path, cp, name="steady")
    try:
        wait_agent_online(cp, "steady")
        make_group(cp, "steady-group", [{"model": "Source", "uri_rtsp": camera.url}])
        with cp.client() as c:
            c.post("/api/v1/record", json={"tag_name": "s-1", "group_name": "steady-group"})
        time.sleep(2)
        cp.stop()
        time.sleep(3)  # the control plane is away; the agent must keep recording
        back = datetime.now(UTC)
        cp = start_controlplane(tmp_path, port=port)

        def heartbeat_since_back() -> bool:
            with cp.client() as c:
                (steady,) = [a for a in c.get("/api/v1/agent").json() if a["name"] == "steady"]
            return datetime.fromisoformat(steady["last_seen_utc"]) > back

        # Its last heartbeat from before may still count as "online": wait for a fresh one.
        wait_until(heartbeat_since_back, 30, what="a heartbeat to the restarted control plane")
        assert records(cp, "s-1")[0]["status"] == "recording"
        time.sleep(1)
        with cp.client(timeout=120) as c:
            assert c.put("/api/v1/record", json={"tag_name": "s-1"}).status_code == 200
        (record,) = records(cp, "s-1")
        assert record["status"] == "completed" and record["gaps"] == []
        _, _, data = download(cp, record["id"])
        duration = assert_plays(data, tmp_path, span_minus_gaps(record), tolerance=1.0)
        assert duration > 5.0  # two seconds before, three while away, one after
    finally:
        agent.stop()
        cp.stop()
