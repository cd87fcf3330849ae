"""The test cameras behave like real ones, as seen by ffmpeg, ffprobe and httpx."""

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from videorec_testing.cameras import (
    CameraError,
    HttpCamera,
    RtspCamera,
    start_http_camera,
    start_rtsp_camera,
)
from videorec_testing.net import free_port
from videorec_testing.wait import wait_until

pytestmark = pytest.mark.e2e

FFMPEG = "/usr/bin/ffmpeg"
FFPROBE = "/usr/bin/ffprobe"
# Without these ffprobe/ffmpeg spend ~2 s analysing an RTSP stream before the first frame.
FAST_OPEN = ["-rtsp_transport", "tcp", "-analyzeduration", "0", "-probesize", "32"]


def probe_rtsp(url: str) -> tuple[dict | None, str]:
    """(the first video stream ffprobe finds at url, or None; ffprobe's stderr)."""
    result = subprocess.run(
        [FFPROBE, "-v", "error", *FAST_OPEN, "-select_streams", "v:0"]
        + ["-show_entries", "stream=codec_name,width,height,r_frame_rate", "-of", "json", url],
        capture_output=True,
        text=True,
        timeout=15,
    )
    streams = json.loads(result.stdout or "{}").get("streams") or [None]
    return streams[0], result.stderr


def decode_jpeg(data: bytes) -> dict:
    """Decode a JPEG with ffprobe (-show_frames decodes, not just parses) and return its frame."""
    result = subprocess.run(
        [FFPROBE, "-v", "error", "-show_frames", "-show_entries", "frame=width,height"]
        + ["-of", "json", "-f", "jpeg_pipe", "-i", "-"],
        input=data,
        capture_output=True,
        timeout=10,
    )
    assert result.returncode == 0 and not result.stderr, result.stderr.decode()
    frames = json.loads(result.stdout)["frames"]
    assert len(frames) == 1
    return frames[0]


@pytest.fixture
def rtsp_camera(tmp_path: Path) -> Iterator[RtspCamera]:
    with start_rtsp_camera(width=320, height=240, log_dir=tmp_path) as camera:
        yield camera


# --- RTSP ---------------------------------------------------------------------------------------


def test_rtsp_camera_serves_h264(rtsp_camera: RtspCamera) -> None:
    stream, stderr = probe_rtsp(rtsp_camera.url)
    assert stream == {"codec_name": "h264", "width": 320, "height": 240, "r_frame_rate": "15/1"}, stderr


@pytest.mark.parametrize("auth_method", ["basic", "digest"])
def test_rtsp_camera_requires_credentials(tmp_path: Path, auth_method: str) -> None:
    with start_rtsp_camera(user="admin", password="s3cret", auth_method=auth_method, log_dir=tmp_path) as cam:
        for url in (cam.url, cam.url.replace("rtsp://", "rtsp://admin:wrong@")):
            stream, stderr = probe_rtsp(url)
            assert stream is None and "401 Unauthorized" in stderr
        stream, stderr = probe_rtsp(cam.url_with_credentials)
        assert stream is not None and stream["codec_name"] == "h264", stderr


def test_two_concurrent_clients_each_grab_a_frame(rtsp_camera: RtspCamera, tmp_path: Path) -> None:
    outputs = [tmp_path / f"client{i}.jpg" for i in range(2)]
    clients = [
        subprocess.Popen(
            [FFMPEG, "-v", "error", *FAST_OPEN, "-i", rtsp_camera.url]
            + ["-frames:v", "1", "-f", "image2", str(out)],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for out in outputs
    ]
    for client in clients:
        _, stderr = client.communicate(timeout=15)
        assert client.returncode == 0, stderr.decode()
    for out in outputs:
        assert decode_jpeg(out.read_bytes()) == {"width": 320, "height": 240}


def test_joining_client_does_not_disturb_timestamps_of_a_watching_one(
    rtsp_camera: RtspCamera, tmp_path: Path
) -> None:
    # Without the publish clock mode, the second client's PLAY seeks the shared media and the first
    # client gets a burst of frames all stamped with the same time.
    recording = tmp_path / "first.ts"
    first = subprocess.Popen(
        [FFMPEG, "-v", "error", *FAST_OPEN, "-i", rtsp_camera.url]
        + ["-c", "copy", "-t", "3", "-flush_packets", "1", "-f", "mpegts", str(recording)],
        stdin=subprocess.DEVNULL,
    )
    wait_until(
        lambda: recording.exists() and recording.stat().st_size > 20_000, 5, what="first client's data"
    )
    second = subprocess.run(
        [FFMPEG, "-v", "error", *FAST_OPEN, "-i", rtsp_camera.url, "-frames:v", "1", "-f", "null", "-"],
        capture_output=True,
        timeout=15,
    )
    assert second.returncode == 0, second.stderr.decode()
    assert first.wait(15) == 0

    pts = subprocess.run(
        [FFPROBE, "-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0", str(recording)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    times = [float(t.strip(",")) for t in pts if t.strip(",")]
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # ffmpeg stamps the first two frames almost alike; any more than that is the seek burst.
    assert len(steps) > 30 and sum(step < 0.01 for step in steps) <= 1, steps


def test_rtsp_camera_stalls_and_resumes(tmp_path: Path) -> None:
    recording = tmp_path / "stall.ts"
    # Stalled by its signal once video flows: --stall-after's timer (tested from the start below)
    # could fire before a client on a loaded machine got its first frame.
    with start_rtsp_camera(width=320, height=240, log_dir=tmp_path) as cam:
        client = subprocess.Popen(
            [FFMPEG, "-v", "error", *FAST_OPEN, "-i", cam.url]
            + ["-c", "copy", "-flush_packets", "1", "-f", "mpegts", str(recording)],
            stdin=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: recording.exists() and recording.stat().st_size > 0, 30, what="video")
            cam.stall()
            assert "stalled" in cam.log()
            time.sleep(0.5)  # frames already on the wire still arrive
            size = recording.stat().st_size
            time.sleep(1.5)  # a stall can only be seen by waiting
            assert recording.stat().st_size == size
            assert client.poll() is None, "the session must stay open while stalled"

            cam.resume()
            wait_until(lambda: recording.stat().st_size > size, 5, what="video after resume()")
        finally:
            client.kill()  # while the camera sends nothing, ffmpeg ignores a single SIGTERM
            client.wait()


def test_rtsp_camera_stalled_from_the_start_answers_but_sends_no_video(tmp_path: Path) -> None:
    with start_rtsp_camera(stall_after=0, log_dir=tmp_path) as cam:
        wait_until(lambda: "stalled" in cam.log(), 5, what="--stall-after 0")
        with socket.create_connection(("127.0.0.1", cam.port), timeout=5) as rtsp:
            rtsp.sendall(
                f"DESCRIBE {cam.url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n".encode()
            )
            reply = b""
            while b"m=video" not in reply and (chunk := rtsp.recv(4096)):
                reply += chunk
        assert reply.startswith(b"RTSP/1.0 200 OK"), reply

        grab = subprocess.Popen(
            [FFMPEG, "-v", "error", *FAST_OPEN, "-i", cam.url, "-frames:v", "1", "-f", "null", "-"],
            stdin=subprocess.DEVNULL,
        )
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                grab.wait(1.5)  # no frame comes while stalled
            cam.resume()
            assert grab.wait(5) == 0
        finally:
            grab.kill()
            grab.wait()


def test_rtsp_camera_restarts_on_the_same_port(rtsp_camera: RtspCamera) -> None:
    port = rtsp_camera.port
    rtsp_camera.stop()
    stream, stderr = probe_rtsp(rtsp_camera.url)
    assert stream is None and "Connection refused" in stderr

    rtsp_camera.restart()
    assert rtsp_camera.port == port
    stream, stderr = probe_rtsp(rtsp_camera.url)
    assert stream is not None and stream["codec_name"] == "h264", stderr


def test_camera_that_cannot_start_fails_with_its_log(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match=r"(?s)exited with code.*no-such-pattern"):
        start_rtsp_camera(pattern="no-such-pattern", log_dir=tmp_path)


def test_rtsp_camera_on_a_taken_port_fails(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken, pytest.raises(CameraError, match="port in use"):
        start_rtsp_camera(port=taken.getsockname()[1], log_dir=tmp_path)


# --- HTTP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["none", "basic", "digest"])
def test_http_camera_serves_distinct_jpegs(tmp_path: Path, auth: str) -> None:
    with start_http_camera(auth=auth, log_dir=tmp_path) as cam, httpx.Client(auth=cam.httpx_auth()) as http:
        snaps = [http.get(cam.url) for _ in range(2)]
        for snap in snaps:
            assert snap.status_code == 200
            assert snap.headers["content-type"] == "image/jpeg"
            assert decode_jpeg(snap.content) == {"width": 320, "height": 240}
        assert snaps[0].content != snaps[1].content
        assert cam.stats()["requests"] == 2


@pytest.mark.parametrize("auth", ["basic", "digest"])
def test_http_camera_refuses_missing_or_wrong_credentials(tmp_path: Path, auth: str) -> None:
    with start_http_camera(auth=auth, user="admin", password="s3cret", log_dir=tmp_path) as cam:
        missing = httpx.get(cam.url)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].lower().startswith(auth)

        wrong_auth = httpx.BasicAuth if auth == "basic" else httpx.DigestAuth
        assert httpx.get(cam.url, auth=wrong_auth("admin", "wrong")).status_code == 401
        assert httpx.get(cam.url, auth=wrong_auth("root", "s3cret")).status_code == 401
        assert cam.stats()["requests"] == 0


def test_http_camera_digest_refuses_a_replayed_request(tmp_path: Path) -> None:
    with start_http_camera(auth="digest", log_dir=tmp_path) as cam:
        first = httpx.get(cam.url, auth=cam.httpx_auth())
        assert first.status_code == 200
        replay = httpx.get(cam.url, headers={"Authorization": first.request.headers["Authorization"]})
        assert replay.status_code == 401


def test_http_camera_serves_concurrent_clients(tmp_path: Path) -> None:
    with start_http_camera(auth="digest", log_dir=tmp_path) as cam:
        statuses: list[int] = []

        def fetch() -> None:
            with httpx.Client(auth=cam.httpx_auth()) as http:
                statuses.extend(http.get(cam.url).status_code for _ in range(5))

        threads = [threading.Thread(target=fetch) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert statuses == [200] * 20
        assert cam.stats()["requests"] == 20


def test_http_camera_restarts_on_the_same_port(tmp_path: Path) -> None:
    port = free_port()
    cam: HttpCamera = start_http_camera(port=port, log_dir=tmp_path)
    with cam:
        assert cam.port == port
        assert httpx.get(cam.url).status_code == 200
        cam.stop()
        with pytest.raises(httpx.ConnectError):
            httpx.get(cam.url)

        cam.restart()
        assert cam.port == port
        assert httpx.get(cam.url).status_code == 200
        assert cam.stats()["requests"] == 1  # a new process: counters start again
