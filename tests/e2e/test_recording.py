"""Recording by tag through the real stack: control plane, agent over gRPC, ffmpeg, RTSP camera."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from agent.recording.orphans import writers_of
from videorec_testing.cameras import RtspCamera, start_http_camera, start_rtsp_camera
from videorec_testing.media import ffprobe_json
from videorec_testing.processes import frozen
from videorec_testing.records import (
    assert_plays,
    download,
    make_group,
    record_file,
    records,
    span_minus_gaps,
    video_seconds,
    wait_bytes,
    wait_video_s,
)
from videorec_testing.stack import Stack, start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("recording")]
GROWN_BYTES = 150_000  # a few seconds of the test camera's video


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("recording")
    with start_stack(tmp, agent_env={"VIDEOREC_AGENT_STALL_TIMEOUT_S": "4"}) as running:
        yield running


def test_record_a_group_stop_and_get_verified_playable_files(
    stack: Stack, camera: RtspCamera, tmp_path: Path
) -> None:
    cp, agent = stack.cp, stack.agent
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


def test_delete_only_the_records_own_file(stack: Stack, camera: RtspCamera) -> None:
    cp, agent = stack.cp, stack.agent
    make_group(cp, "delete-me", [{"model": "Source", "uri_rtsp": camera.url}])
    with cp.client(timeout=120) as c:
        c.post("/api/v1/record", json={"tag_name": "del-1", "group_name": "delete-me"})
        (record,) = wait_bytes(cp, "del-1")
        busy = c.delete(f"/api/v1/record/{record['id']}/file", params={"location": record["location"]})
        assert busy.status_code == 409
        wait_video_s(cp, record["id"], 1.0)
        c.put("/api/v1/record", json={"tag_name": "del-1"})
        (record,) = records(cp, "del-1")
        path = record_file(record, agent.storage)
        assert path.exists() and path.resolve().is_relative_to(agent.storage.resolve())
        assert not record["location"].partition(":")[2].startswith("/")  # the root is the agent's own
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


def test_a_source_on_a_missing_agent_fails_and_the_others_record(stack: Stack, camera: RtspCamera) -> None:
    cp = stack.cp
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
        wait_video_s(cp, by_status["recording"]["id"], 1.0)
        assert c.put("/api/v1/record", json={"tag_name": "half"}).status_code == 200
    assert sorted(r["status"] for r in records(cp, "half")) == ["completed", "failed"]


def test_picture_source_makes_a_timelapse_of_wall_clock_length(stack: Stack, tmp_path: Path) -> None:
    cp = stack.cp
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
            # Five stills taken (one a second, the agent's default): a time-lapse of a few seconds.
            wait_until(lambda: cam.stats()["requests"] >= 5, 60, interval=0.2, what="five stills")
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


def duration_of_file(path: Path) -> float:
    return float(ffprobe_json(path)["format"].get("duration", 0))


def gap_times(record: dict) -> list[tuple[float, float]]:
    return [
        (datetime.fromisoformat(g["start_utc"]).timestamp(), datetime.fromisoformat(g["end_utc"]).timestamp())
        for g in record["gaps"]
    ]


def drop_camera(stack: Stack, camera: RtspCamera, record_id: str) -> tuple[float, float]:
    """Take the camera away until the agent has seen it gone and has failed to reconnect once, then
    bring it back; returns when it went and when it was back (unix times)."""
    agent = stack.agent
    seen = len(agent.log())
    camera.stop()
    gone_at = time.time()
    wait_until(
        lambda: f"record {record_id}: connecting -> retry_wait" in agent.log()[seen:],
        30,
        interval=0.1,
        what="the agent failing to reconnect to the camera",
    )
    camera.restart()
    return gone_at, time.time()


def assert_gap_is_the_outage(record: dict, gone_at: float, back_at: float) -> None:
    [(start, end)] = gap_times(record)
    # No video while the camera was away: the gap spans the whole outage ...
    assert start <= gone_at + 0.5 and end >= back_at - 0.5, (start - gone_at, end - back_at)
    # ... and not much more: reconnecting (a probe every 0.5 s, then ffmpeg's connection and probing,
    # ~1-2 s; a loaded machine allowed for) is all it adds.
    assert end - start <= back_at - gone_at + 8, (end - start, back_at - gone_at)


def assert_says_why(record: dict) -> None:
    """Why the video has a hole, whenever a heartbeat came: with the gap, and as the record's error
    (the last outage's cause stays after the video is back), in the camera's words, not those of our
    ffmpeg's script input."""
    [gap] = record["gaps"]
    assert gap["reason"] == "camera" and gap["detail"], gap
    assert not gap["detail"].startswith("pipe:"), gap
    assert record["error"] == gap["detail"], (record["error"], gap)


def test_a_camera_drop_is_a_gap_in_the_api_as_long_as_the_outage(stack: Stack, tmp_path: Path) -> None:
    cp = stack.cp
    with start_rtsp_camera() as flaky:
        make_group(cp, "drop", [{"model": "Source", "uri_rtsp": flaky.url}])
        with cp.client(timeout=120) as c:
            assert (
                c.post("/api/v1/record", json={"tag_name": "drop-1", "group_name": "drop"}).status_code == 200
            )
            (record,) = wait_bytes(cp, "drop-1")
            wait_video_s(cp, record["id"], 1.0)
            gone_at, back_at = drop_camera(stack, flaky, record["id"])
            held = video_seconds(cp, record["id"])
            # Reported while still recording, by the heartbeat that follows the camera's return: the
            # first one since the outage began, when the outage fell between two beats.
            (record,) = wait_until(
                lambda: (rows := records(cp, "drop-1"))[0]["gaps"] and rows, 30, what="the gap"
            )
            assert record["status"] == "recording"
            assert_gap_is_the_outage(record, gone_at, back_at)
            assert_says_why(record)
            wait_video_s(cp, record["id"], held + 1.0)
            assert c.put("/api/v1/record", json={"tag_name": "drop-1"}).status_code == 200
    (done,) = records(cp, "drop-1")
    assert done["status"] == "completed"
    assert_gap_is_the_outage(done, gone_at, back_at)
    assert_says_why(done)
    _, _, data = download(cp, done["id"])
    assert_plays(data, tmp_path, span_minus_gaps(done), tolerance=1.5)


@pytest.mark.parametrize(
    "in_place",
    [
        # Each on its own stack: free to run beside the module's and beside each other.
        pytest.param(False, marks=pytest.mark.xdist_group("recording-orphan"), id="first-run"),
        pytest.param(True, marks=pytest.mark.xdist_group("recording-orphan-2"), id="in-place-run"),
    ],
)
def test_a_killed_agents_ffmpeg_records_on_until_the_restarted_agent_takes_over(
    tmp_path: Path, camera: RtspCamera, in_place: bool
) -> None:
    """`in_place`: the ffmpeg left running is a later run, which continues the record's file through
    a descriptor it inherited (its command line names `pipe:N`, not the file)."""
    with start_stack(tmp_path, agents=["phoenix"]) as stack:
        cp = stack.cp
        make_group(cp, "restart", [{"model": "Source", "uri_rtsp": camera.url}])
        with cp.client(timeout=120) as c:
            c.post("/api/v1/record", json={"tag_name": "r-1", "group_name": "restart"})
            (record,) = wait_bytes(cp, "r-1")
            wait_video_s(cp, record["id"], 1.0)
            path = record_file(records(cp, "r-1")[0], stack.agent.storage)
            if in_place:  # the first ffmpeg dies, and the next one is the agent's at its death
                (first,) = writers_of([path])
                os.kill(first, signal.SIGKILL)
                wait_until(lambda: writers_of([path]) not in ([], [first]), 30, what="the next ffmpeg")
                # Its video has come once the agent has put the restart's gap on the record (killed
                # before it saw the video, the agent would learn of neither: its journal knows the gap
                # only from that moment on).
                wait_until(lambda: records(cp, "r-1")[0]["gaps"], 30, interval=0.3, what="the restart's gap")
            (orphan,) = writers_of([path])  # the ffmpeg writing the record's file
            stack.agent.kill()  # SIGKILL: no chance to stop its ffmpeg
            down_at = time.time()
            # While the agent is down its ffmpeg goes on recording: three more seconds reach the file.
            at_kill = duration_of_file(path)
            wait_until(
                lambda: duration_of_file(path) >= at_kill + 3, 30, interval=0.3, what="the orphan recording"
            )
            assert writers_of([path]) == [orphan]
            stack.restart_agent(stack.agent)
            up_at = time.time()
            # The restarted agent's ffmpeg opens the camera, then the orphan stops (after its last
            # fragment), and the record goes on in the new part.
            wait_until(lambda: orphan not in writers_of([path]), 15, what="the orphan stopped")
            wait_video_s(cp, record["id"], duration_of_file(path) + 1.0)
            assert c.put("/api/v1/record", json={"tag_name": "r-1"}).status_code == 200
        (record,) = records(cp, "r-1")
        assert record["status"] == "completed", record
        _, _, data = download(cp, record["id"])
    # Nothing recorded before the kill is lost, and neither the agent's downtime (several seconds)
    # nor the handover is a gap: the new ffmpeg had the camera open before the orphan stopped
    # (make before break), and what both recorded is in the file once.
    assert up_at - down_at > 2.5 and len(record["gaps"]) == int(in_place), (up_at - down_at, record["gaps"])
    assert_plays(data, tmp_path, span_minus_gaps(record), tolerance=1.5)


def agent_state(c, name: str) -> str:  # noqa: ANN001 - an httpx.Client
    return next(a for a in c.get("/api/v1/agent").json() if a["name"] == name)["state"]


@pytest.mark.xdist_group("recording-frozen")  # its own stack: free to run beside the module's
def test_stop_while_the_agent_is_unreachable_finishes_when_it_returns(
    tmp_path: Path, camera: RtspCamera
) -> None:
    with start_stack(tmp_path, agents=["frozen"]) as stack:
        cp = stack.cp
        make_group(cp, "frozen-group", [{"model": "Source", "uri_rtsp": camera.url}])
        with cp.client(timeout=60) as c:
            c.post("/api/v1/record", json={"tag_name": "f-1", "group_name": "frozen-group"})
            (record,) = wait_bytes(cp, "f-1")
            wait_video_s(cp, record["id"], 1.0)
            with frozen(stack.agent):  # the agent host drops off the network
                wait_until(lambda: agent_state(c, "frozen") == "offline", 30, what="agent offline")
                started = time.monotonic()
                response = c.put("/api/v1/record", json={"tag_name": "f-1"})
                # Answered at once (not after the 10 s gRPC deadline): the stop waits in the database.
                assert response.status_code == 202 and time.monotonic() - started < 2
                (record,) = records(cp, "f-1")
                assert record["status"] == "stopping"
            wait_until(lambda: records(cp, "f-1")[0]["status"] == "completed", 30, what="record finalised")
        (record,) = records(cp, "f-1")
        assert record["hash_md5"]
        _, _, data = download(cp, record["id"])
    assert hashlib.md5(data).hexdigest() == record["hash_md5"]  # noqa: S324
    assert_plays(data, tmp_path, span_minus_gaps(record), tolerance=1.0)


@pytest.mark.xdist_group("recording-cp-down")  # its own stack: free to run beside the module's
def test_what_happened_while_the_control_plane_was_down_reaches_it_when_it_returns(tmp_path: Path) -> None:
    """The agent records on without its control plane; the camera drops and comes back meanwhile.
    Once the control plane is back, the heartbeat brings the gap while the record still records; and a
    stop it could not deliver (agent unreachable) survives a control-plane restart and is delivered by
    the heartbeat."""
    with start_rtsp_camera() as flaky, start_stack(tmp_path, agents=["steady"]) as stack:
        make_group(stack.cp, "steady-group", [{"model": "Source", "uri_rtsp": flaky.url}])
        with stack.cp.client() as c:
            c.post("/api/v1/record", json={"tag_name": "s-1", "group_name": "steady-group"})
        (record,) = wait_bytes(stack.cp, "s-1")
        wait_video_s(stack.cp, record["id"], 1.0)
        before = video_seconds(stack.cp, record["id"])
        path = record_file(record, stack.agent.storage)

        stack.stop_cp()
        gone_at, back_at = drop_camera(stack, flaky, record["id"])
        # The agent closed the gap on its own, and records on into the same file.
        wait_until(lambda: f"record {record['id']}: gap of" in stack.agent.log(), 30, what="the agent's gap")
        wait_until(
            lambda: duration_of_file(path) > before + 1.0, 30, interval=0.3, what="video after the drop"
        )
        cp = stack.start_cp()

        # Reconciled while still recording: the gap the control plane never saw is in the API.
        (record,) = wait_until(lambda: (rows := records(cp, "s-1"))[0]["gaps"] and rows, 30, what="the gap")
        assert record["status"] == "recording"
        assert_gap_is_the_outage(record, gone_at, back_at)

        with cp.client(timeout=60) as c, frozen(stack.agent):
            wait_until(lambda: agent_state(c, "steady") == "offline", 30, what="agent offline")
            assert c.put("/api/v1/record", json={"tag_name": "s-1"}).status_code == 202
            cp = stack.restart_cp()  # the pending stop is in the database, not in a process
        wait_until(
            lambda: records(cp, "s-1")[0]["status"] == "completed", 30, what="stopped by the heartbeat"
        )
        (record,) = records(cp, "s-1")
        _, _, data = download(cp, record["id"])
    assert hashlib.md5(data).hexdigest() == record["hash_md5"]  # noqa: S324
    assert_gap_is_the_outage(record, gone_at, back_at)
    duration = assert_plays(data, tmp_path, span_minus_gaps(record), tolerance=1.0)
    assert duration > before + 1.0
