"""The DESCRIBE probe against the real GStreamer RTSP camera (no auth, basic, digest)."""

from __future__ import annotations

import pytest

from agent.cameras.rtsp_probe import describe
from agent.errors import RtspProbeError
from videorec_testing.cameras import start_http_camera, start_rtsp_camera
from videorec_testing.net import free_port

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("auth", [None, "basic", "digest"])
async def test_describe_finds_the_video_stream(auth: str | None) -> None:
    options = {"user": "admin", "password": "p@ss:w0rd", "auth_method": auth} if auth else {}
    with start_rtsp_camera(**options) as camera:
        assert "DESCRIBE ok" in await describe(camera.url_with_credentials, 5)
        if auth:
            with pytest.raises(RtspProbeError, match="401") as refused:
                await describe(camera.url.replace("rtsp://", "rtsp://admin:nope@"), 5)
            assert "nope" not in str(refused.value)
            with pytest.raises(RtspProbeError, match="401"):
                await describe(camera.url, 5)  # no credentials at all


async def test_describe_of_a_closed_port_or_a_non_rtsp_server_is_offline() -> None:
    with pytest.raises(RtspProbeError, match="cannot connect"):
        await describe(f"rtsp://127.0.0.1:{free_port()}/x", 3)
    with start_http_camera() as http, pytest.raises(RtspProbeError):
        await describe(f"rtsp://127.0.0.1:{http.port}/snap.jpg", 3)
