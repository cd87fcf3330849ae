"""A group start through the real stack: one StartRecords call per agent, every record `recording`
when the POST answers, with its ffmpeg's file already there, and every file plays after the stop."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from videorec_testing.cameras import RtspCamera
from videorec_testing.media import ffprobe_json
from videorec_testing.metrics import sample
from videorec_testing.processes import AgentProc
from videorec_testing.records import record_file
from videorec_testing.stack import start_stack

pytestmark = [pytest.mark.e2e]
N_SOURCES = 8


def metrics(agent: AgentProc) -> str:
    found = re.findall(r"http on (\S+)", agent.log())
    assert found, agent.log()
    return httpx.get(f"http://{found[-1]}/metrics", timeout=10).text


def start_calls(agent: AgentProc) -> tuple[float, float, float]:
    text = metrics(agent)
    return (
        sample(text, "videorec_agent_start_calls_total", method="StartRecords") or 0.0,
        sample(text, "videorec_agent_start_calls_total", method="StartRecord") or 0.0,
        sample(text, "videorec_agent_start_entries_total") or 0.0,
    )


def test_a_group_on_two_agents_starts_with_one_call_per_agent_and_every_file_plays(
    tmp_path: Path, camera: RtspCamera
) -> None:
    with start_stack(tmp_path, agents=2) as stack:
        cp = stack.cp
        storages = {a.name: a.storage for a in stack.agents}
        with cp.client(timeout=120) as c:
            group = c.post("/api/v1/group", json={"name": "stands"}).json()
            for i in range(N_SOURCES):
                # Half pinned on each agent: the split does not depend on placement's timing.
                body = {"uri_rtsp": camera.url, "description": f"cam {i}", "agent": f"agent-{i % 2 + 1}"}
                source = c.post("/api/v1/source", json=body).json()
                assert c.post(f"/api/v1/group/{group['id']}/source/{source['id']}").json() is True
            before = {a.name: start_calls(a) for a in stack.agents}

            assert (
                c.post("/api/v1/record", json={"tag_name": "kick-off", "group_name": "stands"}).status_code
                == 200
            )
            started = c.get("/api/v1/record", params={"tag_name": "kick-off"}).json()
            assert len(started) == N_SOURCES
            assert {r["status"] for r in started} == {"recording"}, started
            for record in started:
                # `recording` in the answer: that record's ffmpeg had opened the camera (its file is there).
                assert record_file(record, storages[record["agent"]]).exists(), record
            assert sorted(r["agent"] for r in started) == sorted(
                f"agent-{i % 2 + 1}" for i in range(N_SOURCES)
            )

            for agent in stack.agents:
                batches, singles, entries = (
                    now - was for now, was in zip(start_calls(agent), before[agent.name], strict=True)
                )
                assert (batches, singles, entries) == (1, 0, N_SOURCES // 2), agent.name

            assert c.put("/api/v1/record", json={"tag_name": "kick-off"}).status_code == 200
            done = c.get("/api/v1/record", params={"tag_name": "kick-off"}).json()
        for record in done:
            assert record["status"] == "completed" and record["hash_md5"], record
            media = ffprobe_json(record_file(record, storages[record["agent"]]))
            assert float(media["format"]["duration"]) > 0.5, media
            assert any(s["codec_type"] == "video" for s in media["streams"]), media
