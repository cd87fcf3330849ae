"""The agent checks the address a camera's name resolves to, next to the cameras, against the
control plane's camera networks before it dials: a name the control plane could not resolve
(`localhost.`, `*.nip.io`) reaches nothing the policy refuses (issue 21)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from agent.cameras import dial
from agent.cameras.prober import probe
from agent.cameras.snapshot import fetch_picture, grab_rtsp_frame
from agent.cameras.spec import CameraSpec
from agent.errors import CameraError, CameraFailure
from shared.camera_networks import CameraNetworks
from videorec_testing.cameras import HttpCamera, start_http_camera

pytestmark = pytest.mark.anyio

STRICT = CameraNetworks(allow_local=False)


@pytest.fixture
def strict() -> Iterator[None]:
    dial.use(STRICT)
    try:
        yield
    finally:
        dial.use(CameraNetworks())  # what an agent not told yet does


@pytest.fixture(scope="module")
def camera() -> Iterator[HttpCamera]:
    with start_http_camera() as camera:
        yield camera


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def local_names() -> list[str]:
    """Spellings of this machine that only a resolver (not a literal check) reveals."""
    names = ["localhost.", "LocalHost", "cam.localhost."]
    host = socket.gethostname()
    try:
        if all(info[4][0].startswith("127.") for info in socket.getaddrinfo(host, None)):
            names.append(host)  # /etc/hosts maps the machine's own name to loopback
    except OSError:
        pass
    return names


@pytest.mark.parametrize("name", local_names())
async def test_a_name_resolving_to_a_refused_address_is_never_fetched(
    strict: None, camera: HttpCamera, client: httpx.AsyncClient, name: str
):
    before = camera.stats()["requests"]
    url = camera.url.replace("127.0.0.1", name)
    with pytest.raises(CameraError) as refused:
        await fetch_picture(CameraSpec(8, picture_url=url), client, 5.0)
    assert refused.value.reason is CameraFailure.INVALID
    assert "loopback" in refused.value.detail and name not in refused.value.detail
    online, detail = await probe(CameraSpec(8, picture_url=url), client, 5.0, "ffmpeg")
    assert not online and "loopback" in detail
    assert camera.stats()["requests"] == before  # nothing was dialled


async def test_rtsp_grabs_and_probes_are_checked_too(strict: None, client: httpx.AsyncClient):
    spec = CameraSpec(9, rtsp_url="rtsp://user:pw@[64:ff9b::7f00:1]:8554/x")
    with pytest.raises(CameraError) as refused:
        await grab_rtsp_frame(spec, 5.0, "ffmpeg")
    assert refused.value.reason is CameraFailure.INVALID and "pw" not in refused.value.detail
    online, detail = await probe(spec, client, 5.0, "ffmpeg")
    assert not online and "loopback" in detail


async def test_the_policy_allows_what_it_allows(camera: HttpCamera, client: httpx.AsyncClient):
    dial.use(CameraNetworks(allow_local=True))
    url = camera.url.replace("127.0.0.1", "localhost")
    assert (await fetch_picture(CameraSpec(8, picture_url=url), client, 5.0)).startswith(b"\xff\xd8")
