"""The agent's heartbeat loop against a real control plane (in process, SQLite): it holds the whole
list after its first beat, then applies each delta (a changed camera replaced, a deleted one dropped,
the others kept as they were, their credentials not sent again)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from agent.cameras import dial
from agent.cameras.prober import Prober
from agent.control.heartbeat import HeartbeatLoop
from agent.recording.manager import RecordManager
from controlplane.settings import Settings
from shared.heartbeat import HeartbeatIn, HeartbeatOut
from videorec_testing.asgi import in_process_client

pytestmark = pytest.mark.anyio
TOKEN = "agent-delta-token"


class _NoFrames:
    def latest(self, source_id: int, max_age: float) -> object | None:
        return None


@pytest.fixture(autouse=True)
def _camera_networks_restored() -> Iterator[None]:
    """The loop applies the control plane's camera networks to the process (agent.cameras.dial):
    the tests after this one in the same worker must not inherit them."""
    before = dial._networks
    try:
        yield
    finally:
        dial.use(before)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path / "cp", agent_token=TOKEN, failover_after_s=600)
    async with in_process_client(settings) as (http, _state):
        yield http


async def test_the_agent_applies_each_delta_and_keeps_what_did_not_change(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    prober = Prober(client, _NoFrames(), interval_s=60, timeout_s=1, ffmpeg_bin="ffmpeg")
    records = RecordManager(tmp_path / "agent", "a1", "ffmpeg", client)
    await records.open()
    loop = HeartbeatLoop(
        client,
        "http://127.0.0.1",
        TOKEN,
        1.0,
        5.0,
        lambda: HeartbeatIn(name="a1", address="127.0.0.1:40001", capacity=8),
        prober,
        records,
    )
    answers: list[HeartbeatOut] = []

    async def beat_until(check: Callable[[dict], bool], timeout_s: float) -> None:
        """Beat (as the loop does, faster) until the prober holds what `check` wants; bounded."""
        for _ in range(int(timeout_s / 0.2)):
            answers.append(await loop.beat())
            if check(prober.assigned()):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"the agent never held what was wanted: {prober.assigned()}")

    async def add(uri: str) -> int:
        return int((await client.post("/api/v1/source", json={"uri_rtsp": uri})).json()["id"])

    one, two = await add("rtsp://u:pwOne@cam.example/1"), await add("rtsp://u:pwTwo@cam.example/2")
    await beat_until(lambda held: set(held) == {one, two}, 20)
    first_two = prober.assigned()[two]

    await client.put(f"/api/v1/source/{one}", json={"uri_rtsp": "rtsp://u:pwNew@cam.example/1"})
    answers.clear()
    await beat_until(lambda held: "pwNew" in (held[one].rtsp_url or ""), 10)
    told = [a for a in answers if a.changed is not None or a.sources is not None]
    assert told and all(a.sources is None for a in told)  # a delta, not the whole list
    assert "pwTwo" not in "".join(a.model_dump_json() for a in answers)  # the unchanged one not sent
    assert prober.assigned()[two] == first_two

    assert (await client.delete(f"/api/v1/source/{two}")).is_success
    await beat_until(lambda held: set(held) == {one}, 10)
