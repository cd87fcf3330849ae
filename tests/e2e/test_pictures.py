"""Snapshots, live MJPEG and self-checks through a real control plane, a real agent over gRPC and
real cameras (GStreamer RTSP, an HTTP still camera with basic and digest auth)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from videorec_testing.cameras import RtspCamera, start_http_camera, start_rtsp_camera
from videorec_testing.media import assert_jpeg_decodes, split_multipart
from videorec_testing.processes import AgentProc, ControlPlane, frozen
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("pictures")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, AgentProc]]:
    with start_stack(tmp_path_factory.mktemp("pictures")) as running:
        yield running.cp, running.agent


@pytest.fixture(scope="module")
def rtsp_auth() -> Iterator[RtspCamera]:
    with start_rtsp_camera(user="admin", password="cam-pass-9") as cam:
        yield cam


def add_source(cp: ControlPlane, **body: object) -> int:
    with cp.client() as c:
        response = c.post("/api/v1/source", json=body)
        assert response.status_code == 201, response.text
        return response.json()["id"]


def test_agent_registers_with_its_facts(stack: tuple[ControlPlane, AgentProc]) -> None:
    cp, agent = stack
    with cp.client() as c:
        (listed,) = [a for a in c.get("/api/v1/agent").json() if a["name"] == agent.name]
    assert listed["state"] == "online"
    assert listed["address"] == agent.address()
    assert listed["version"] and listed["capacity"] > 0
    assert 0 < listed["disk_free_bytes"] <= listed["disk_total_bytes"]


def test_snapshot_from_rtsp_is_a_decodable_jpeg(stack, camera: RtspCamera) -> None:
    cp, _ = stack
    source_id = add_source(cp, model="Source", uri_rtsp=camera.url)
    with cp.client() as c:
        response = c.get(f"/api/v1/source/{source_id}/picture")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert assert_jpeg_decodes(response.content) == (640, 360)


def test_snapshot_from_rtsp_with_credentials(stack, rtsp_auth: RtspCamera) -> None:
    cp, _ = stack
    source_id = add_source(cp, model="Source", uri_rtsp=rtsp_auth.url_with_credentials)
    with cp.client() as c:
        response = c.get(f"/api/v1/source/{source_id}/picture")
    assert response.status_code == 200, response.text
    assert_jpeg_decodes(response.content)


def test_wrong_rtsp_password_is_502_without_leaking_it(stack, rtsp_auth: RtspCamera) -> None:
    cp, agent = stack
    url = rtsp_auth.url.replace("rtsp://", "rtsp://admin:Wr0ngPass@")
    source_id = add_source(cp, model="Source", uri_rtsp=url)
    with cp.client() as c:
        response = c.get(f"/api/v1/source/{source_id}/picture")
    assert response.status_code == 502, response.text
    assert f"source {source_id}" in response.json()["detail"]
    assert "Wr0ngPass" not in response.text
    assert "Wr0ngPass" not in agent.log() and "Wr0ngPass" not in cp.log()


@pytest.mark.parametrize("auth", ["basic", "digest"])
def test_snapshot_from_http_camera(stack, auth: str) -> None:
    cp, _ = stack
    with start_http_camera(auth=auth, user="viewer", password="pic-Pass-1") as cam:
        source_id = add_source(
            cp,
            model="PictureSource",
            uri_http_picture={"uri": cam.url, "auth": auth, "user": "viewer", "password": "pic-Pass-1"},
        )
        with cp.client() as c:
            response = c.get(f"/api/v1/source/{source_id}/picture/")
        assert response.status_code == 200, response.text
        assert assert_jpeg_decodes(response.content) == (320, 240)
        assert cam.stats()["requests"] >= 1


def test_concurrent_cold_pictures_share_one_grab(stack) -> None:
    """Thirty viewers opening a slow camera at once: one request reaches the camera, not thirty."""
    cp, _ = stack
    with start_http_camera(delay=1.5) as cam:
        source_id = add_source(cp, model="PictureSource", uri_http_picture={"uri": cam.url})

        def picture(_: int) -> int:
            with cp.client() as c:
                response = c.get(f"/api/v1/source/{source_id}/picture/")
                assert_jpeg_decodes(response.content)
                return response.status_code

        with ThreadPoolExecutor(30) as pool:
            codes = list(pool.map(picture, range(30)))
        assert codes == [200] * 30
        # Callers that arrive while a grab runs share it (tests/agent/cameras/test_gate.py proves
        # one grab for callers arriving together); on a loaded box arrivals spread over a few grabs.
        assert cam.stats()["requests"] <= 15, cam.stats()


@pytest.mark.parametrize("auth", ["basic", "digest"])
def test_wrong_http_camera_password_is_502_without_leaking_it(stack, auth: str) -> None:
    cp, agent = stack
    with start_http_camera(auth=auth, user="viewer", password="right-one") as cam:
        source_id = add_source(
            cp,
            model="PictureSource",
            uri_http_picture={"uri": cam.url, "auth": auth, "user": "viewer", "password": "Not-The-Pw"},
        )
        with cp.client() as c:
            response = c.get(f"/api/v1/source/{source_id}/picture")
    assert response.status_code == 502
    assert "401" in response.json()["detail"]
    assert "Not-The-Pw" not in response.text + agent.log() + cp.log()


def agent_readers(agent: AgentProc) -> list[str]:
    """Command lines of the agent's live-reader ffmpeg children (MJPEG to a pipe)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        # Live readers stream MJPEG to a pipe without end; snapshots and probes stop after one frame.
        if agent.proc and ppid == agent.proc.pid and "image2pipe" in cmdline and "-frames:v 1" not in cmdline:
            found.append(cmdline)
    return found


def read_mjpeg(
    cp: ControlPlane,
    source_id: int,
    delay: float,
    seconds: float,
    got_frame: threading.Event | None = None,
    until: threading.Event | None = None,
) -> tuple[list[bytes], list[float]]:
    """Frames and their arrival times over `seconds` (and until `until` is set, when given)."""
    frames: list[bytes] = []
    times: list[float] = []
    buffer = b""
    with cp.client() as c, c.stream("GET", f"/api/v1/source/{source_id}/video", params={"delay": delay}) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("multipart/x-mixed-replace")
        end = time.monotonic() + seconds
        for chunk in r.iter_bytes():
            buffer += chunk
            parts = split_multipart(buffer)
            while len(frames) < len(parts):
                frames.append(parts[len(frames)])
                times.append(time.monotonic())
                if got_frame is not None:
                    got_frame.set()
            if time.monotonic() > end and (until is None or until.is_set()):
                break
    return frames, times


def rtsp_clients(cam: RtspCamera) -> int:
    """RTSP sessions the camera has played since it started: every new ffmpeg is one more."""
    return cam.log().count("rtsp_camera: play")


def test_mjpeg_two_viewers_at_the_asked_rate_share_one_reader(stack) -> None:
    cp, agent = stack
    with start_rtsp_camera() as rtsp:
        source_id = add_source(cp, model="Source", uri_rtsp=rtsp.url)
        delay, seconds = 0.5, 4.0
        with ThreadPoolExecutor(3) as pool:
            got_frame, pictured = threading.Event(), threading.Event()
            viewers = [
                pool.submit(read_mjpeg, cp, source_id, delay, seconds, got_frame, pictured) for _ in range(2)
            ]
            readers_while_watching = wait_until(lambda: agent_readers(agent), 30, what="a live reader")
            assert got_frame.wait(30), "no live frame"
            # A snapshot of a watched source answers from the frame the viewers are getting: no new
            # RTSP session reaches the camera for it.
            with cp.client() as c:
                before = rtsp_clients(rtsp)
                picture = c.get(f"/api/v1/source/{source_id}/picture")
                after = rtsp_clients(rtsp)
            still_watching = not all(v.done() for v in viewers)
            pictured.set()  # the viewers may leave now (they stay at least `seconds`)
            results = [v.result() for v in viewers]
    assert picture.status_code == 200, picture.text
    assert assert_jpeg_decodes(picture.content) == (640, 360)
    assert still_watching  # otherwise the picture could have been a cold grab after all
    assert before >= 1 and after == before
    assert len(readers_while_watching) == 1, readers_while_watching
    for frames, times in results:
        # One frame every 0.5 s: a loaded box may deliver fewer, never more.
        assert 2 <= len(frames) <= (times[-1] - times[0]) / delay + 2, (len(frames), times[-1] - times[0])
        gaps = [b - a for a, b in zip(times[1:], times[2:], strict=False)]
        # Paced by the server, not sent as fast as the camera makes them (25 fps = 0.04 s).
        assert sum(gaps) / len(gaps) > 0.3, gaps
        assert_jpeg_decodes(frames[-1])
    # The viewers left: after the linger, nothing keeps reading the camera for them.
    wait_until(lambda: agent_readers(agent) == [], 15, what="the live reader to stop")


def test_mjpeg_delay_must_be_positive(stack, camera: RtspCamera) -> None:
    cp, _ = stack
    source_id = add_source(cp, model="Source", uri_rtsp=camera.url)
    with cp.client() as c:
        for bad in ("0", "-1", "abc"):
            response = c.get(f"/api/v1/source/{source_id}/video", params={"delay": bad})
            assert response.status_code == 422
            assert response.json()["detail"][0]["loc"] == ["query", "delay"]


def test_picture_of_unknown_source_is_404(stack) -> None:
    cp, _ = stack
    with cp.client() as c:
        assert c.get("/api/v1/source/99999/picture").status_code == 404
        assert c.get("/api/v1/source/99999/video").status_code == 404


def test_self_check_image_and_video(stack) -> None:
    cp, _ = stack
    with cp.client() as c:
        img = c.get("/test/img")
        assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
        assert_jpeg_decodes(img.content)
        video = c.get("/test/video", params={"frames": 10, "delay": 0.05})
    assert video.status_code == 200
    frames = split_multipart(video.content)
    assert len(frames) == 10
    for frame in frames:
        assert_jpeg_decodes(frame)


def test_source_status_follows_the_camera(stack) -> None:
    cp, _ = stack
    camera = start_rtsp_camera()
    try:
        source_id = add_source(cp, model="Source", uri_rtsp=camera.url)

        def status() -> str:
            with cp.client() as c:
                return c.get(f"/api/v1/source/{source_id}").json()["status"]

        wait_until(lambda: status() == "online", 30, what="source online")
        camera.stop()
        stopped = time.monotonic()
        wait_until(lambda: status() == "offline", 10, what="source offline")
        assert time.monotonic() - stopped < 10
        with cp.client() as c:
            detail = c.get(f"/api/v1/source/{source_id}").json()["status_detail"]
        assert detail
        camera.restart()
        wait_until(lambda: status() == "online", 10, what="source back online")
    finally:
        camera.stop()


def test_killed_agent_turns_offline_and_pictures_fail_fast(tmp_path: Path, camera: RtspCamera) -> None:
    with start_stack(tmp_path, agents=["doomed"]) as stack:
        cp, agent = stack.cp, stack.agent
        source_id = add_source(cp, model="Source", uri_rtsp=camera.url, agent="doomed")
        with cp.client() as c:
            assert c.get(f"/api/v1/source/{source_id}/picture").status_code == 200
        agent.kill()

        def state() -> str:
            with cp.client() as c:
                return next(a["state"] for a in c.get("/api/v1/agent").json() if a["name"] == "doomed")

        wait_until(lambda: state() == "offline", 30, what="agent offline")
        with cp.client() as c:
            started = time.monotonic()
            response = c.get(f"/api/v1/source/{source_id}/picture")
            elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert "doomed" in response.json()["detail"]
        assert elapsed < 1.0
        # Nobody can vouch for the camera now: its status says so instead of the stale "online".
        with cp.client() as c:
            source = c.get(f"/api/v1/source/{source_id}").json()
        assert source["status"] == "unknown" and "doomed" in source["status_detail"]


def test_agent_with_a_wrong_token_is_refused(tmp_path: Path) -> None:
    import grpc

    from shared.rpc import agent_pb2, agent_pb2_grpc

    with start_stack(tmp_path, agents=["good"]) as stack:
        cp, good = stack.cp, stack.agent
        intruder = stack.add_agent("intruder", token="not-the-token", online=False)
        wait_until(lambda: "401 Unauthorized" in intruder.log(), 30, what="the intruder refused")
        with cp.client() as c:
            assert "intruder" not in [a["name"] for a in c.get("/api/v1/agent").json()]
        # And the agent refuses a caller that does not have its token.
        with grpc.insecure_channel(good.address()) as channel:
            stub = agent_pb2_grpc.AgentStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetInfo(
                    agent_pb2.GetInfoRequest(), timeout=5, metadata=(("authorization", "Bearer nope"),)
                )
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            info = stub.GetInfo(
                agent_pb2.GetInfoRequest(),
                timeout=5,
                metadata=(("authorization", "Bearer agent-secret-for-tests"),),
            )
            assert info.name == "good"


def command_lines_with(secret: bytes, besides: int) -> list[str]:
    """Command lines holding `secret`, except process `besides` (the test camera, told it by argv)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == besides:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if secret in cmdline:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def picture_status(cp: ControlPlane, source_id: int) -> int:
    with cp.client() as c:
        return c.get(f"/api/v1/source/{source_id}/picture").status_code


def test_credentials_never_reach_ps_output_of_http_fetches(stack) -> None:
    """HTTP still cameras are fetched in-process (httpx), so their password is never on a command line.

    The process table is sampled while the fetch runs: a slow camera keeps any child that fetched
    it alive for the whole delay."""
    cp, _ = stack
    with start_http_camera(auth="digest", user="viewer", password="PsSecret77", delay=2.0) as cam:
        assert cam.proc is not None
        source_id = add_source(
            cp,
            model="PictureSource",
            uri_http_picture={"uri": cam.url, "auth": "digest", "user": "viewer", "password": "PsSecret77"},
        )
        with ThreadPoolExecutor(1) as pool:
            fetch = pool.submit(picture_status, cp, source_id)
            seen: list[str] = []
            samples = 0
            while not fetch.done():
                seen += command_lines_with(b"PsSecret77", besides=cam.proc.pid)
                samples += 1
            assert fetch.result() == 200
        assert cam.stats()["requests"] >= 1
    assert samples >= 5  # the table was looked at during the fetch, not only after it
    assert seen == []


def test_heartbeat_needs_the_agent_token(stack) -> None:
    cp, _ = stack
    response = httpx.post(
        cp.url + "/internal/v1/agent/heartbeat", json={"name": "x", "address": "127.0.0.1:1"}, timeout=5
    )
    assert response.status_code == 401


def test_an_agent_that_does_not_answer_in_time_is_504(tmp_path: Path) -> None:
    """A frozen agent still counts as online (its last heartbeat is recent): only the gRPC deadline
    ends the call, and that is a 504 naming the agent, not a hang or a 500."""
    cp_env = {"VIDEOREC_GRPC_TIMEOUT_S": "1", "VIDEOREC_AGENT_OFFLINE_AFTER_S": "60"}
    with start_stack(tmp_path, cp_env=cp_env) as stack, stack.cp.client() as c:
        assert c.get("/test/img").status_code == 200
        with frozen(stack.agent):
            response = c.get("/test/img")
    assert response.status_code == 504, response.text
    assert stack.agent.name in response.json()["detail"]
