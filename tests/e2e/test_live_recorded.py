"""A camera that is recorded and watched live (the console's WebSocket, `stream.mp4`, MJPEG,
snapshots) is read once: the recording's ffmpeg feeds the live view. Through a real control plane
(with an API token, as deployed), a real agent and the real RTSP test camera."""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from websockets.sync.client import connect

from agent.files.fmp4_stream import Splitter
from shared.media_fanout import Fragment
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.media import assert_jpeg_decodes, split_multipart
from videorec_testing.processes import ControlPlane
from videorec_testing.records import assert_plays, download, make_group, records, span_minus_gaps, wait_bytes
from videorec_testing.stack import Stack, start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live_recorded")]

TOKEN = "live-recorded-api-token-for-tests"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("live-recorded"), api_token=TOKEN) as running:
        yield running


class TileViewer:
    """One console tile on the live WebSocket: when each init segment and fragment arrived."""

    def __init__(self, cp: ControlPlane, source_id: int) -> None:
        self._cp, self._source_id = cp, source_id
        self.inits: list[float] = []
        self.fragments: list[float] = []
        self.states: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TileViewer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def fragments_since(self, moment: float) -> int:
        return sum(1 for at in self.fragments if at > moment)

    def _run(self) -> None:
        with self._cp.client() as c:
            ticket = c.post("/api/v1/live/ticket").json()["ticket"]
        url = self._cp.url.replace("http://", "ws://") + f"/api/v1/live/ws?ticket={ticket}"
        with connect(url, open_timeout=10, max_size=None) as ws:
            ws.send(json.dumps({"open": 1, "source": self._source_id}))
            while not self._stop.is_set():
                try:
                    message = ws.recv(timeout=0.5)
                except TimeoutError:
                    continue
                if isinstance(message, str):
                    self.states.append(json.loads(message)["state"])
                    continue
                _, kind = struct.unpack_from(">HB", message)
                (self.inits if kind == 0 else self.fragments).append(time.time())


def read_stream(cp: ControlPlane, source_id: int, stop: threading.Event) -> bytes:
    data = bytearray()
    with cp.client() as c, c.stream("GET", f"/api/v1/source/{source_id}/stream.mp4") as response:
        assert response.status_code == 200, response.read()
        for chunk in response.iter_raw():
            data += chunk
            if stop.is_set():
                break
    return bytes(data)


def read_mjpeg(cp: ControlPlane, source_id: int, stop: threading.Event) -> list[bytes]:
    body = bytearray()
    with cp.client() as c, c.stream("GET", f"/api/v1/source/{source_id}/video?delay=0.2") as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            body += chunk
            if stop.is_set():
                break
    return split_multipart(bytes(body))


def plays(camera: RtspCamera) -> int:
    """RTSP sessions the camera has played so far."""
    return camera.log().count("rtsp_camera: play")


def test_a_recorded_camera_watched_live_holds_one_session_across_the_records_stop_and_start(
    stack: Stack, tmp_path: Path
) -> None:
    cp = stack.cp
    with start_rtsp_camera(fps=25) as camera:
        (source_id,) = make_group(cp, "watched", [{"model": "Source", "uri_rtsp": camera.url}])
        with cp.client(timeout=60) as c:
            assert (
                c.post("/api/v1/record", json={"tag_name": "w-1", "group_name": "watched"}).status_code == 200
            )
            wait_bytes(cp, "w-1")
            stop = threading.Event()
            with TileViewer(cp, source_id) as tile, ThreadPoolExecutor(4) as pool:
                streams = [pool.submit(read_stream, cp, source_id, stop) for _ in range(3)]
                mjpeg = pool.submit(read_mjpeg, cp, source_id, stop)
                try:
                    pictures = [c.get(f"/api/v1/source/{source_id}/picture") for _ in range(3)]
                    wait_until(lambda: len(tile.fragments) >= 20, 30, what="the tile's fragments")
                    # Recorded, and watched by a tile, 3 streams, MJPEG and snapshots: one session.
                    watched = (camera.playing(), plays(camera))
                finally:
                    stop.set()
                frames = mjpeg.result()
                datas = [s.result() for s in streams]
                # The record stops: its viewers go on with a session of their own (a new init segment).
                stopped_at = time.time()
                assert c.put("/api/v1/record", json={"tag_name": "w-1"}).status_code == 200
                wait_until(lambda: tile.fragments_since(stopped_at + 1) >= 10, 30, what="live after the stop")
                alone = (camera.playing(), plays(camera))
                # Recorded again: the viewers' session gives the camera up to the recording.
                started_at = time.time()
                assert (
                    c.post("/api/v1/record", json={"tag_name": "w-2", "group_name": "watched"}).status_code
                    == 200
                )
                wait_until(lambda: plays(camera) > alone[1], 30, what="the recording's session")
                wait_until(
                    lambda: tile.fragments_since(started_at + 1) >= 10, 30, what="live after the start"
                )
                again = (camera.playing(), plays(camera))
            assert c.put("/api/v1/record", json={"tag_name": "w-2"}).status_code == 200
        done = records(cp, "w-1") + records(cp, "w-2")
    assert watched == (1, 1), camera.log()
    assert alone == (1, 2), alone  # the record's session ended, the viewers' began
    assert again == (1, 3), again
    assert tile.states[:2] == ["connecting", "live"], tile.states
    for picture in pictures:
        assert picture.status_code == 200, picture.text
        assert assert_jpeg_decodes(picture.content) == (640, 360)
    assert len(frames) >= 2 and assert_jpeg_decodes(frames[-1]) == (640, 360)
    for data in datas:
        assert any(isinstance(item, Fragment) and item.keyframe for item in Splitter().feed(data))
    # The records are whole: their MD5 is what is served, and they hold their span.
    for record in done:
        assert record["status"] == "completed" and not record["gaps"], record
        _, _, video = download(cp, record["id"])
        assert hashlib.md5(video).hexdigest() == record["hash_md5"]  # noqa: S324
        assert_plays(video, tmp_path, span_minus_gaps(record), tolerance=1.0)
