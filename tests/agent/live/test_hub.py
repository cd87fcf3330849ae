"""LiveHub against the real test cameras: fan-out, linger, restart, and nothing left running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from agent.cameras.spec import CameraSpec
from agent.errors import CameraError, CameraFailure
from agent.ffmpeg.jpeg import is_jpeg
from agent.live import Frame, LiveHub, Subscription
from tests.agent.ffmpeg.test_process import child_processes
from videorec_testing.async_timeout import within
from videorec_testing.cameras import RtspCamera, start_http_camera, start_rtsp_camera
from videorec_testing.wait import await_until

pytestmark = pytest.mark.anyio

FFMPEG = "ffmpeg"
USER = "admin"
PASSWORD = "live-S3cret"


@pytest.fixture(scope="module")
def rtsp_camera() -> Iterator[RtspCamera]:
    with start_rtsp_camera(user=USER, password=PASSWORD) as camera:
        yield camera


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def hub(client: httpx.AsyncClient) -> AsyncIterator[LiveHub]:
    hub = LiveHub(client, FFMPEG, fps=5.0, linger_s=1.0, frame_timeout=2.0)
    try:
        yield hub
    finally:
        await within(60, hub.aclose(), "the hub's aclose()")
    left = {
        pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:300] for pid in child_processes()
    }
    assert not left, left


def rtsp_spec(camera: RtspCamera, source_id: int = 1) -> CameraSpec:
    return CameraSpec(source_id=source_id, rtsp_url=camera.url_with_credentials)


async def next_frame_despite_errors(viewer: Subscription, after_seq: int, timeout: float) -> Frame:
    """Keep asking, as a viewer that waits for its camera to come back would."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await viewer.next_frame(after_seq, timeout=deadline - time.monotonic())
        except CameraError:
            if time.monotonic() >= deadline:
                raise


async def test_two_viewers_share_one_reader_and_both_get_frames(
    rtsp_camera: RtspCamera, hub: LiveHub
) -> None:
    spec = rtsp_spec(rtsp_camera)
    async with hub.subscribe(spec) as first, hub.subscribe(spec) as second:
        assert hub.reader_count == 1 and hub.viewer_count(1) == 2
        a = await first.next_frame(0, timeout=10)
        b = await second.next_frame(0, timeout=10)
        assert is_jpeg(a.jpeg) and is_jpeg(b.jpeg)
        a2 = await first.next_frame(a.seq, timeout=5)
        b2 = await second.next_frame(a2.seq, timeout=5)
        assert a.seq < a2.seq < b2.seq
        assert first.upstream_process is second.upstream_process
        # One camera session and one decoder fed from it for both, and the camera password is on
        # neither command line.
        assert hub.sessions.session_count == 1
        assert len(child_processes()) == 2
        for pid in child_processes():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
            assert PASSWORD not in cmdline and quote(PASSWORD) not in cmdline
        # About fps frames a second reach the viewers.
        start = await first.next_frame(b2.seq, timeout=5)
        await asyncio.sleep(2.0)
        later = await first.next_frame(start.seq, timeout=5)
        assert 6 <= later.seq - start.seq <= 14


async def test_reader_lingers_for_a_snapshot_then_stops(rtsp_camera: RtspCamera, hub: LiveHub) -> None:
    spec = rtsp_spec(rtsp_camera)
    async with hub.subscribe(spec) as viewer:
        frame = await viewer.next_frame(0, timeout=10)
        proc = viewer.upstream_process
    assert proc is not None and proc.running
    assert hub.viewer_count(1) == 0 and hub.reader_count == 1
    # A snapshot right after the viewer left is answered from the running reader.
    snap = hub.latest(1, max_age=2.0)
    assert snap is not None and snap.seq >= frame.seq
    assert hub.latest(2, max_age=2.0) is None
    # A viewer who comes back within the linger gets the same reader.
    async with hub.subscribe(spec) as again:
        assert again.upstream_process is proc
        await again.next_frame(frame.seq, timeout=5)
    left = time.monotonic()
    await await_until(lambda: hub.reader_count == 0, timeout=15, interval=0.05, what="no reader")
    assert time.monotonic() - left >= 1.0  # not before the linger
    assert proc.returncode is not None and not proc.running
    # The camera session goes with its last holder: the reader lingered already.
    await await_until(lambda: hub.sessions.session_count == 0, timeout=15, interval=0.05, what="no session")
    assert child_processes() == []
    assert hub.latest(1, max_age=60) is None


async def test_frames_resume_after_the_camera_restarts(hub: LiveHub) -> None:
    camera = start_rtsp_camera()
    try:
        async with hub.subscribe(CameraSpec(source_id=2, rtsp_url=camera.url)) as viewer:
            frame = await viewer.next_frame(0, timeout=10)
            camera.stop()
            with pytest.raises(CameraError) as caught:
                while True:  # frames already on their way still arrive, then the error
                    frame = await viewer.next_frame(frame.seq, timeout=10)
            assert caught.value.detail.startswith("no new frame within 2.0 s")
            camera.restart()  # same port
            resumed = await next_frame_despite_errors(viewer, frame.seq, timeout=20)
            assert resumed.seq > frame.seq and is_jpeg(resumed.jpeg)
            # The camera session and its JPEG decoder (the decoder of the stream before the restart
            # may still be on its way out).
            await await_until(lambda: len(child_processes()) == 2, timeout=10, interval=0.05, what="2 ffmpeg")
    finally:
        camera.stop()


async def test_a_stalled_stream_is_restarted(hub: LiveHub) -> None:
    # The camera keeps the session open but sends no video: the reader's watchdog must act.
    with start_rtsp_camera() as camera:
        async with hub.subscribe(CameraSpec(source_id=8, rtsp_url=camera.url)) as viewer:
            frame = await viewer.next_frame(0, timeout=10)
            stalled_proc = viewer.upstream_process
            camera.stall()
            with pytest.raises(CameraError):
                while True:
                    frame = await viewer.next_frame(frame.seq, timeout=10)
            camera.resume()
            resumed = await next_frame_despite_errors(viewer, frame.seq, timeout=20)
            assert resumed.seq > frame.seq
            assert stalled_proc is not None and stalled_proc.returncode is not None
            assert viewer.upstream_process is not stalled_proc


async def test_viewers_learn_why_a_camera_is_down(hub: LiveHub) -> None:
    camera = start_rtsp_camera()
    camera.stop()
    async with hub.subscribe(CameraSpec(source_id=3, rtsp_url=camera.url)) as viewer:
        started = time.monotonic()
        with pytest.raises(CameraError) as caught:
            await viewer.next_frame(0, timeout=30)
    # The reader's frame time-out (2 s) ends the wait and says why, long before the viewer's own.
    assert 1.9 < time.monotonic() - started < 10.0
    assert caught.value.reason is CameraFailure.UNREACHABLE
    assert "connection refused" in caught.value.detail


async def test_picture_source_is_polled_once_for_all_viewers(hub: LiveHub) -> None:
    with start_http_camera(auth="digest", user=USER, password=PASSWORD) as camera:
        spec = CameraSpec(
            source_id=4,
            picture_url=camera.url,
            picture_auth="digest",
            picture_user=USER,
            picture_password=PASSWORD,
        )
        async with hub.subscribe(spec) as first, hub.subscribe(spec) as second:
            seq = 0
            for _ in range(5):
                seq = (await first.next_frame(seq, timeout=5)).seq
            latest = second.latest()
            assert latest is not None and is_jpeg(latest.jpeg)
            assert hub.reader_count == 1
        stats = camera.stats()
    assert 5 <= stats["requests"] <= 7  # one poll per frame, not one per viewer
    assert stats["rejected"] <= 2  # digest auth reuses its challenge


async def test_changed_credentials_get_a_new_reader(rtsp_camera: RtspCamera, hub: LiveHub) -> None:
    old = CameraSpec(source_id=5, rtsp_url=rtsp_camera.url.replace("rtsp://", f"rtsp://{USER}:stale-pass@"))
    async with hub.subscribe(old), hub.subscribe(rtsp_spec(rtsp_camera, source_id=5)) as viewer:
        assert hub.reader_count == 2 and hub.viewer_count(5) == 2
        assert is_jpeg((await viewer.next_frame(0, timeout=10)).jpeg)
    # The retired reader stops as soon as its viewer leaves, without lingering.
    await await_until(lambda: hub.reader_count == 1, timeout=0.9, interval=0.05, what="one reader")


async def test_aclose_stops_every_reader_even_with_viewers(
    rtsp_camera: RtspCamera, client: httpx.AsyncClient
) -> None:
    hub = LiveHub(client, FFMPEG, linger_s=30.0)
    async with hub.subscribe(rtsp_spec(rtsp_camera, 6)) as a, hub.subscribe(rtsp_spec(rtsp_camera, 7)) as b:
        await a.next_frame(0, timeout=10)
        await b.next_frame(0, timeout=10)
        assert hub.reader_count == 2 and len(child_processes()) == 4  # two sessions, two decoders
        await hub.aclose()
        assert hub.reader_count == 0 and child_processes() == []
        with pytest.raises(RuntimeError):
            await a.next_frame(0, timeout=1)
    with pytest.raises(RuntimeError):
        async with hub.subscribe(rtsp_spec(rtsp_camera, 6)):
            pass
