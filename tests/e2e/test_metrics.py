"""Prometheus metrics and health of a real agent and control plane while a camera records, stalls
and comes back: the series exist, move, and never carry a credential."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.metrics import sample
from videorec_testing.processes import AgentProc
from videorec_testing.stack import Stack, start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("metrics")]
CANARY = "canary-Pw-7731"


def http_base(agent: AgentProc) -> str:
    # The line may be a moment behind the one before it in the log file.
    found = wait_until(lambda: re.findall(r"http on (\S+)", agent.log()), 15, what="the agent's HTTP port")
    return "http://" + found[-1]


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    with start_rtsp_camera(user="cam", password=CANARY) as cam:
        yield cam


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    agent_env = {"VIDEOREC_AGENT_STALL_TIMEOUT_S": "3"}
    with start_stack(tmp_path_factory.mktemp("metrics"), agent_env=agent_env) as running:
        yield running


def test_recording_health_series_move_and_hold_no_credential(stack: Stack, camera: RtspCamera):
    cp, agent = stack.cp, stack.agent
    base = http_base(agent)
    with cp.client() as c:
        group = c.post("/api/v1/group", json={"name": "metered"}).json()
        source = c.post("/api/v1/source", json={"uri_rtsp": camera.url_with_credentials}).json()
        c.post(f"/api/v1/group/{group['id']}/source/{source['id']}")
        assert c.post("/api/v1/record", json={"tag_name": "m", "group_name": "metered"}).status_code == 200
    sid = str(source["id"])

    def scrape() -> str:
        return httpx.get(base + "/metrics", timeout=10).text

    def scrape_when(condition: Callable[[str], bool]) -> str | None:
        text = scrape()
        return text if condition(text) else None

    def growing() -> float | None:
        text = scrape()
        written = sample(text, "videorec_agent_bytes_written_total", source=sid) or 0
        return (
            written if sample(text, "videorec_agent_recording_up", source=sid) == 1 and written > 0 else None
        )

    first = wait_until(growing, 90, interval=0.3, what="recording_up 1 with bytes")
    wait_until(lambda: (growing() or 0) > first, 60, interval=0.3, what="bytes growing")
    assert sample(scrape(), "videorec_agent_disk_free_bytes") > 0

    camera.stall()  # the session stays open, the video stops
    try:
        # What the stall alert reads: the age of the last write grows while nothing arrives.
        wait_until(
            lambda: scrape_when(
                lambda t: (sample(t, "videorec_agent_last_fragment_age_seconds", source=sid) or 0) >= 2
            ),
            30,
            interval=0.3,
            what="last fragment age growing after the stall",
        )
        wait_until(
            lambda: scrape_when(lambda t: sample(t, "videorec_agent_recording_up", source=sid) == 0),
            30,
            interval=0.3,
            what="recording_up 0 after the stall",
        )
    finally:
        camera.resume()
    # The camera is back: the record goes on with a gap, and the gap and the restart are counted.
    text = wait_until(
        lambda: scrape_when(
            lambda t: (
                sample(t, "videorec_agent_recording_up", source=sid) == 1
                and (sample(t, "videorec_agent_gaps_total", source=sid) or 0) >= 1
            )
        ),
        60,
        interval=0.3,
        what="recording again with a gap counted",
    )
    assert (sample(text, "videorec_agent_ffmpeg_restarts_total", source=sid) or 0) >= 1
    with cp.client() as c:
        # The API says so too, once the agent's next heartbeat has carried it.
        wait_until(
            lambda: c.get("/api/v1/record", params={"tag_name": "m"}).json()[0]["gaps"], 10, what="gap"
        )
        assert c.put("/api/v1/record", json={"tag_name": "m"}).status_code == 200
    text = scrape()
    assert sample(text, "videorec_agent_finalise_duration_seconds_count") >= 1
    cp_text = httpx.get(cp.url + "/metrics", timeout=10).text
    assert sample(cp_text, "videorec_records", status="completed") >= 1
    assert sample(cp_text, "videorec_agents_online") == 1
    for body in (text, cp_text):
        assert CANARY not in body and "rtsp://" not in body
    # Nor any log line of either process, whatever library wrote it.
    assert CANARY not in agent.log() and CANARY not in cp.log()
    # Recordings are not readable by other users (0640), the journal with camera URLs only by the agent.
    (final,) = [p for p in agent.storage.rglob("*.mp4") if "m" in p.parts]
    assert final.stat().st_mode & 0o777 == 0o640, oct(final.stat().st_mode)


def test_agent_readiness_follows_its_control_plane(stack: Stack):
    # Its control plane does not exist: nothing listens on port 9.
    lonely = stack.add_agent("lonely", online=False, VIDEOREC_AGENT_CONTROLPLANE_URL="http://127.0.0.1:9")
    try:
        base = http_base(lonely)
        assert httpx.get(base + "/healthz").json() == {"status": "ok"}
        answer = httpx.get(base + "/readyz")
        assert answer.status_code == 503 and "controlplane" in answer.json()["checks"]
    finally:
        lonely.stop()
    assert httpx.get(http_base(stack.agent) + "/readyz").status_code == 200
