"""Cold snapshots under a crowd: one grab per camera shared by every caller, a few grabs at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from agent.cameras.gate import SnapshotGate
from agent.cameras.snapshot import snapshot
from agent.cameras.spec import CameraSpec
from agent.ffmpeg.jpeg import is_jpeg
from videorec_testing.cameras import start_http_camera

pytestmark = pytest.mark.anyio


async def test_fifty_callers_of_one_camera_share_one_request():
    with start_http_camera(delay=0.5) as cam:
        spec = CameraSpec(source_id=1, picture_url=cam.url)
        gate = SnapshotGate(limit=4)
        async with httpx.AsyncClient() as client:
            pictures = await asyncio.gather(
                *(gate.take(spec, lambda: snapshot(spec, client, 10.0, "ffmpeg")) for _ in range(50))
            )
        assert all(is_jpeg(p) for p in pictures)
        assert cam.stats()["requests"] == 1


async def test_at_most_limit_cameras_are_grabbed_at_once():
    with start_http_camera(delay=0.3) as cam:
        gate = SnapshotGate(limit=2)
        running = peak = 0

        async def grab(spec: CameraSpec, client: httpx.AsyncClient) -> bytes:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            try:
                return await snapshot(spec, client, 10.0, "ffmpeg")
            finally:
                running -= 1

        specs = [CameraSpec(source_id=i, picture_url=f"{cam.url}?cam={i}") for i in range(6)]
        async with httpx.AsyncClient() as client:
            await asyncio.gather(*(gate.take(s, lambda s=s: grab(s, client)) for s in specs))
        assert peak == 2
        assert cam.stats()["requests"] == 6


async def test_a_caller_giving_up_does_not_cancel_the_grab_of_the_others():
    with start_http_camera(delay=0.5) as cam:
        spec = CameraSpec(source_id=1, picture_url=cam.url)
        gate = SnapshotGate(limit=4)
        async with httpx.AsyncClient() as client:
            impatient = asyncio.create_task(gate.take(spec, lambda: snapshot(spec, client, 10.0, "ffmpeg")))
            patient = asyncio.create_task(gate.take(spec, lambda: snapshot(spec, client, 10.0, "ffmpeg")))
            await asyncio.sleep(0.1)  # inside the camera's 0.5 s delay: the grab is under way
            impatient.cancel()
            assert is_jpeg(await patient)
        assert cam.stats()["requests"] == 1
