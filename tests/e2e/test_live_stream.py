"""Live passthrough through a real control plane (with an API token, as deployed), a real agent over
gRPC and the real RTSP test camera: `stream.mp4`, the console's WebSocket with its tickets, and one
camera session per camera however many watch it (viewers, MJPEG, snapshots)."""

from __future__ import annotations

import json
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from agent.files.fmp4_stream import Splitter
from shared.media_fanout import Fragment, Init
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.media import assert_jpeg_decodes, split_multipart
from videorec_testing.net import free_port
from videorec_testing.processes import AgentProc, ControlPlane
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live_stream")]

TOKEN = "live-api-token-for-tests"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, AgentProc]]:
    with start_stack(tmp_path_factory.mktemp("live"), api_token=TOKEN) as running:
        yield running.cp, running.agent


def add_source(cp: ControlPlane, url: str) -> int:
    with cp.client() as c:
        response = c.post("/api/v1/source", json={"model": "Source", "uri_rtsp": url})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


def read_stream(
    cp: ControlPlane, source_id: int, seconds: float, stop: threading.Event | None = None
) -> tuple[str, bytes, list[float]]:
    """(Content-Type, the bytes, the arrival time of each chunk) of `seconds` (or until `stop`)."""
    data, arrivals = bytearray(), []
    with cp.client() as c, c.stream("GET", f"/api/v1/source/{source_id}/stream.mp4") as response:
        assert response.status_code == 200, response.read()
        end = time.monotonic() + seconds
        for chunk in response.iter_raw():
            data += chunk
            arrivals.append(time.time())
            if time.monotonic() > end and (stop is None or stop.is_set()):
                break
        return response.headers["content-type"], bytes(data), arrivals


def test_stream_mp4_is_the_cameras_own_h264_from_a_keyframe_with_prft(
    stack: tuple[ControlPlane, AgentProc], tmp_path: Path
) -> None:
    cp, _ = stack
    with start_rtsp_camera(fps=25) as rtsp:
        source_id = add_source(cp, rtsp.url)
        started = time.monotonic()
        content_type, data, _ = read_stream(cp, source_id, 3.0)
        elapsed = time.monotonic() - started
    assert content_type.startswith('video/mp4; codecs="avc1.'), content_type
    items = Splitter().feed(data)
    init, first = items[0], items[1]
    assert isinstance(init, Init) and init.data[4:8] == b"ftyp"
    assert f'codecs="{init.codecs}"' in content_type
    assert isinstance(first, Fragment) and first.keyframe
    assert first.data[4:8] == b"prft" and first.wallclock is not None
    fragments = [item for item in items[1:] if isinstance(item, Fragment)]
    assert all(f.wallclock is not None for f in fragments)
    # Short fragments: several a second, not one per keyframe (1 s here).
    assert len(fragments) >= 2 * elapsed, (len(fragments), elapsed)
    # ffprobe reads the camera's stream as it is: H.264 at its size, at the camera's frame rate.
    path = tmp_path / "live.mp4"
    path.write_bytes(data)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames", "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    (stream,) = json.loads(probe.stdout)["streams"]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 640, 360)
    # 25 fps, no re-encoding at a lower rate (the MJPEG path gives 5): at least 2 s of video in 3 s.
    assert int(stream["nb_read_frames"]) >= 50, stream


def test_one_camera_session_however_many_watch(stack: tuple[ControlPlane, AgentProc]) -> None:
    """3 stream viewers, an MJPEG viewer and snapshots: the camera sees one RTSP session; it ends
    once the last viewer has left."""
    cp, _ = stack
    with start_rtsp_camera() as rtsp:
        source_id = add_source(cp, rtsp.url)
        stop = threading.Event()

        def mjpeg() -> list[bytes]:
            body = bytearray()
            with cp.client() as c, c.stream("GET", f"/api/v1/source/{source_id}/video?delay=0.2") as r:
                assert r.status_code == 200
                for chunk in r.iter_raw():
                    body += chunk
                    if stop.is_set():
                        break
            return split_multipart(bytes(body))

        with ThreadPoolExecutor(4) as pool:
            viewers = [pool.submit(read_stream, cp, source_id, 4.0, stop) for _ in range(3)]
            try:
                wait_until(lambda: rtsp.playing() >= 1, 30, what="the camera session")
                mjpeg_viewer = pool.submit(mjpeg)
                with cp.client() as c:
                    pictures = [c.get(f"/api/v1/source/{source_id}/picture") for _ in range(3)]
                time.sleep(2.0)  # everything watches at once for a while
                sessions_while_watching = rtsp.playing()
                plays = rtsp.log().count("rtsp_camera: play")
            finally:
                stop.set()
            results = [v.result() for v in viewers]
            frames = mjpeg_viewer.result()
        for picture in pictures:
            assert picture.status_code == 200, picture.text
            assert assert_jpeg_decodes(picture.content) == (640, 360)
        assert len(frames) >= 2 and assert_jpeg_decodes(frames[-1]) == (640, 360)
        for _, data, _ in results:
            assert any(isinstance(i, Fragment) for i in Splitter().feed(data))
        assert sessions_while_watching == 1
        assert plays == 1, rtsp.log()
        # Nobody watches: the relay and the agent let go after their linger (5 s each), not later.
        left = time.monotonic()
        wait_until(lambda: rtsp.playing() == 0, 30, what="the camera session to end")
        assert time.monotonic() - left < 20


def test_a_viewer_that_stops_reading_does_not_stall_the_others(stack: tuple[ControlPlane, AgentProc]) -> None:
    cp, _ = stack
    with start_rtsp_camera(bitrate=6000) as rtsp:
        source_id = add_source(cp, rtsp.url)
        with (
            cp.client() as stuck_client,
            stuck_client.stream("GET", f"/api/v1/source/{source_id}/stream.mp4") as stuck,
        ):
            assert stuck.status_code == 200
            next(stuck.iter_raw())  # then never reads again
            time.sleep(3.0)  # the stuck viewer's buffers fill
            _, data, arrivals = read_stream(cp, source_id, 5.0)
    fragments = [i for i in Splitter().feed(data) if isinstance(i, Fragment)]
    # Fragments keep coming several a second to the viewer that reads (200 ms fragments).
    assert len(fragments) >= 15, len(fragments)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert max(gaps) < 1.5, max(gaps)


def test_a_camera_that_refuses_the_first_connection_plays_once_it_answers(
    stack: tuple[ControlPlane, AgentProc],
) -> None:
    """A camera busy or just started refuses a connection now and then (the test camera did under
    load): the viewer waits for the next try instead of getting 502."""
    cp, _ = stack
    port = free_port()
    source_id = add_source(cp, f"rtsp://127.0.0.1:{port}/stream")  # nothing listens there yet
    with ThreadPoolExecutor(1) as pool:
        viewer = pool.submit(read_stream, cp, source_id, 1.0)
        time.sleep(0.3)  # a real wait: the viewer's first connection is refused meanwhile
        with start_rtsp_camera(port=port):
            _, data, _ = viewer.result(timeout=30)
    assert isinstance(Splitter().feed(data)[0], Init)


def test_token_mode_stream_and_websocket_tickets(
    stack: tuple[ControlPlane, AgentProc], rtsp: RtspCamera
) -> None:
    cp, _ = stack
    source_id = add_source(cp, rtsp.url)
    with httpx.Client(base_url=cp.url, timeout=10) as anonymous:
        assert anonymous.get(f"/api/v1/source/{source_id}/stream.mp4").status_code == 401
        assert anonymous.post("/api/v1/live/ticket").status_code == 401
    ws_url = cp.url.replace("http://", "ws://") + "/api/v1/live/ws"
    for refused in (ws_url, f"{ws_url}?ticket=1.2.3", f"{ws_url}?ticket={TOKEN}"):
        with pytest.raises(InvalidStatus):
            connect(refused, open_timeout=10).close()
    with cp.client() as c:
        ticket = c.post("/api/v1/live/ticket").json()["ticket"]
    assert TOKEN not in ticket
    with connect(f"{ws_url}?ticket={ticket}", open_timeout=10, max_size=None) as ws:
        ws.send(json.dumps({"open": 1, "source": source_id}))
        ws.send(json.dumps({"open": 2, "source": source_id}))
        ws.send(json.dumps({"open": 3, "source": 999999}))
        states: dict[int, list[str]] = {1: [], 2: [], 3: []}
        media: dict[int, list[int]] = {1: [], 2: []}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(len(m) >= 6 for m in media.values()):
            message = ws.recv(timeout=10)
            if isinstance(message, str):
                status = json.loads(message)
                states[status["tile"]].append(status["state"])
                if status["tile"] == 3:
                    assert status["state"] in ("connecting", "offline")
                    assert "detail" in status or status["state"] == "connecting"
            else:
                tile, kind = struct.unpack_from(">HB", message)
                media[tile].append(kind)
        for tile in (1, 2):
            assert states[tile][:2] == ["connecting", "live"], states
            assert media[tile][0] == 0 and set(media[tile][1:]) == {1}, media  # init, then fragments
        assert states[3][-1] == "offline"
    # A ticket opens one WebSocket only.
    with pytest.raises(InvalidStatus):
        connect(f"{ws_url}?ticket={ticket}", open_timeout=10).close()


@pytest.fixture(scope="module")
def rtsp() -> Iterator[RtspCamera]:
    with start_rtsp_camera() as cam:
        yield cam


@pytest.mark.parametrize(
    ("audio", "codecs", "streams"), [("aac", ",mp4a.40.2", ["h264", "aac"]), ("pcmu", "", ["h264"])]
)
def test_audio_a_browser_can_play_comes_along_and_other_audio_is_left_out(
    stack: tuple[ControlPlane, AgentProc], tmp_path: Path, audio: str, codecs: str, streams: list[str]
) -> None:
    cp, _ = stack
    with start_rtsp_camera(audio=audio) as rtsp:
        source_id = add_source(cp, rtsp.url)
        content_type, data, _ = read_stream(cp, source_id, 2.0)
    assert content_type.startswith('video/mp4; codecs="avc1.') and content_type.endswith(f'{codecs}"'), (
        content_type
    )
    path = tmp_path / "live.mp4"
    path.write_bytes(data)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert [s["codec_name"] for s in json.loads(probe.stdout)["streams"]] == streams
