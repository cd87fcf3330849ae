"""Snapshots and probes against the real test cameras (GStreamer RTSP, stdlib HTTP)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

import httpx
import pytest

from agent.cameras.prober import probe
from agent.cameras.snapshot import grab_rtsp_frame, snapshot
from agent.cameras.spec import CameraSpec
from agent.errors import CameraError, CameraFailure
from agent.ffmpeg.commands import snapshot_command
from agent.ffmpeg.jpeg import is_jpeg
from agent.ffmpeg.live_commands import session_command
from tests.agent.ffmpeg.test_process import child_processes
from videorec_testing.cameras import HttpCamera, RtspCamera, start_http_camera, start_rtsp_camera

pytestmark = pytest.mark.anyio

FFMPEG = "ffmpeg"
USER = "admin"
# Characters that must be percent-encoded in a URL and quoted in ffmpeg's concat script.
PASSWORD = "s3cr3t:p@ss'word"
WRONG = "wrong-Passw0rd"
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def rtsp_camera() -> Iterator[RtspCamera]:
    with start_rtsp_camera(user=USER, password=PASSWORD) as camera:
        yield camera


@pytest.fixture(scope="module", params=["basic", "digest"])
def http_camera(request: pytest.FixtureRequest) -> Iterator[HttpCamera]:
    with start_http_camera(auth=request.param, user=USER, password=PASSWORD) as camera:
        yield camera


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def rtsp_spec(url: str, password: str | None = PASSWORD) -> CameraSpec:
    if password is None:
        return CameraSpec(source_id=7, rtsp_url=url)
    scheme, rest = url.split("://", 1)
    return CameraSpec(source_id=7, rtsp_url=f"{scheme}://{USER}:{quote(password, safe='')}@{rest}")


def picture_spec(camera: HttpCamera, password: str = PASSWORD, **extra: str) -> CameraSpec:
    return CameraSpec(
        source_id=8,
        picture_url=camera.url,
        picture_auth=camera.auth,
        picture_user=USER,
        picture_password=password,
        **extra,
    )


def assert_no_secret(*texts: str) -> None:
    for secret in (PASSWORD, quote(PASSWORD, safe=""), WRONG):
        for text in texts:
            assert secret not in text


async def test_rtsp_snapshot_is_a_jpeg(rtsp_camera: RtspCamera, client: httpx.AsyncClient) -> None:
    jpeg = await snapshot(rtsp_spec(rtsp_camera.url), client, TIMEOUT, FFMPEG)
    assert is_jpeg(jpeg) and len(jpeg) > 1000
    assert child_processes() == []


async def test_rtsp_grab_with_default_probing_also_works(rtsp_camera: RtspCamera) -> None:
    jpeg = await grab_rtsp_frame(rtsp_spec(rtsp_camera.url), TIMEOUT, FFMPEG, fast_probe=False)
    assert is_jpeg(jpeg)


async def test_rtsp_wrong_password_is_unauthorized_and_not_shown(
    rtsp_camera: RtspCamera, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    spec = rtsp_spec(rtsp_camera.url, password=WRONG)
    with pytest.raises(CameraError) as caught:
        await snapshot(spec, client, TIMEOUT, FFMPEG)
    error = caught.value
    assert error.reason is CameraFailure.UNAUTHORIZED and error.source_id == 7
    assert error.detail.startswith("401 unauthorized")
    assert_no_secret(str(error), error.detail, caplog.text, repr(spec))


async def test_rtsp_camera_down_fails_fast(client: httpx.AsyncClient) -> None:
    camera = start_rtsp_camera()
    camera.stop()  # nothing listens on its port now
    started = time.monotonic()
    with pytest.raises(CameraError) as caught:
        await snapshot(rtsp_spec(camera.url), client, TIMEOUT, FFMPEG)
    assert time.monotonic() - started < 1.0  # refused at once: neither the timeout nor a retry
    assert caught.value.reason is CameraFailure.UNREACHABLE
    assert caught.value.detail.startswith("connection refused")


async def test_rtsp_camera_that_sends_nothing_times_out(client: httpx.AsyncClient) -> None:
    # The session opens but no video comes: only our deadline ends the grab.
    with start_rtsp_camera(stall_after=0) as camera:
        started = time.monotonic()
        with pytest.raises(CameraError) as caught:
            await snapshot(rtsp_spec(camera.url, password=None), client, 2.0, FFMPEG)
    assert 1.9 <= time.monotonic() - started < 2.0 * 5  # our deadline ends it, not ffmpeg's own
    assert caught.value.reason is CameraFailure.TIMEOUT
    assert "timed out" in caught.value.detail
    assert child_processes() == []


async def test_http_snapshot_with_auth(http_camera: HttpCamera, client: httpx.AsyncClient) -> None:
    jpeg = await snapshot(picture_spec(http_camera), client, TIMEOUT, FFMPEG)
    assert is_jpeg(jpeg)


async def test_http_wrong_password_is_unauthorized_and_not_shown(
    http_camera: HttpCamera, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CameraError) as caught:
        await snapshot(picture_spec(http_camera, password=WRONG), client, TIMEOUT, FFMPEG)
    assert caught.value.reason is CameraFailure.UNAUTHORIZED
    assert caught.value.detail == "401 unauthorized"
    assert_no_secret(str(caught.value), caplog.text)


async def test_http_camera_down_fails_fast(client: httpx.AsyncClient) -> None:
    camera = start_http_camera()
    camera.stop()
    spec = CameraSpec(source_id=9, picture_url=camera.url)
    started = time.monotonic()
    with pytest.raises(CameraError) as caught:
        await snapshot(spec, client, TIMEOUT, FFMPEG)
    assert time.monotonic() - started < 1.0
    assert caught.value.reason is CameraFailure.UNREACHABLE


async def test_a_body_that_is_not_a_jpeg_is_an_error(client: httpx.AsyncClient) -> None:
    camera = start_http_camera()
    try:
        spec = CameraSpec(source_id=10, picture_url=camera.url.rsplit("/", 1)[0] + "/stats")
        with pytest.raises(CameraError) as caught:
            await snapshot(spec, client, TIMEOUT, FFMPEG)
    finally:
        camera.stop()
    assert caught.value.reason is CameraFailure.BAD_RESPONSE
    assert caught.value.detail.startswith("not a JPEG image")


async def test_snapshot_prefers_the_picture_url(
    rtsp_camera: RtspCamera, http_camera: HttpCamera, client: httpx.AsyncClient
) -> None:
    before = http_camera.stats()["requests"]
    spec = picture_spec(http_camera, rtsp_url=rtsp_spec(rtsp_camera.url).rtsp_url or "")
    assert is_jpeg(await snapshot(spec, client, TIMEOUT, FFMPEG))
    assert http_camera.stats()["requests"] == before + 1


async def test_probe_says_online_or_why_not(
    rtsp_camera: RtspCamera, http_camera: HttpCamera, client: httpx.AsyncClient
) -> None:
    online, detail = await probe(rtsp_spec(rtsp_camera.url), client, TIMEOUT, FFMPEG)
    assert online and detail.startswith("RTSP DESCRIBE ok")
    online, detail = await probe(picture_spec(http_camera), client, TIMEOUT, FFMPEG)
    assert online and detail.startswith("HTTP picture of ")
    online, detail = await probe(rtsp_spec(rtsp_camera.url, password=WRONG), client, TIMEOUT, FFMPEG)
    assert not online and detail.startswith("401 unauthorized")
    assert_no_secret(detail)


def test_spec_secrets_and_repr() -> None:
    spec = CameraSpec(
        source_id=1,
        rtsp_url=f"rtsp://{USER}:{quote(PASSWORD, safe='')}@10.0.0.5/stream",
        picture_url="http://10.0.0.5/snap.jpg",
        picture_auth="digest",
        picture_user=USER,
        picture_password=WRONG,
    )
    assert set(spec.secrets) == {quote(PASSWORD, safe=""), WRONG}
    assert "rtsp://admin:***@10.0.0.5/stream" in repr(spec)
    assert_no_secret(repr(spec), str(spec))
    with pytest.raises(ValueError):
        CameraSpec(source_id=2)
    with pytest.raises(ValueError):
        CameraSpec(source_id=3, picture_url="http://x/", picture_auth="ntlm")


async def test_rtsp_url_with_raw_quote_and_colon_in_the_password(rtsp_camera: RtspCamera) -> None:
    # Only "@" must be encoded; the raw quote has to survive ffmpeg's concat-script quoting.
    scheme, rest = rtsp_camera.url.split("://", 1)
    spec = CameraSpec(source_id=11, rtsp_url=f"{scheme}://{USER}:{PASSWORD.replace('@', '%40')}@{rest}")
    assert is_jpeg(await grab_rtsp_frame(spec, TIMEOUT, FFMPEG))


def test_commands_never_put_the_url_on_the_command_line() -> None:
    url = f"rtsp://{USER}:{quote(PASSWORD, safe='')}@10.0.0.5/stream"
    for command in (snapshot_command(url, FFMPEG), session_command(url, FFMPEG, io_timeout_s=5.0)):
        assert not any("10.0.0.5" in arg for arg in command.argv)
        assert command.argv[command.argv.index("-i") + 1] == "pipe:0"
        assert command.stdin is not None and b"10.0.0.5" in command.stdin
    with pytest.raises(ValueError):
        snapshot_command("rtsp://10.0.0.5/x\nfile '/etc/passwd'", FFMPEG)
    for make in (
        lambda u: snapshot_command(u, FFMPEG),
        lambda u: session_command(u, FFMPEG, io_timeout_s=5.0),
    ):
        with pytest.raises(ValueError):
            make("file:///etc/passwd")


async def test_unusable_url_or_missing_ffmpeg_is_a_camera_error(client: httpx.AsyncClient) -> None:
    with pytest.raises(CameraError) as caught:
        await snapshot(CameraSpec(source_id=12, rtsp_url="http://10.0.0.5/stream"), client, TIMEOUT, FFMPEG)
    assert caught.value.reason is CameraFailure.INVALID
    spec = CameraSpec(source_id=12, rtsp_url="rtsp://10.0.0.5/stream")
    with pytest.raises(CameraError) as caught:
        await snapshot(spec, client, TIMEOUT, "/nonexistent/ffmpeg")
    assert caught.value.reason is CameraFailure.FFMPEG
