"""The paths a new user walks, from outside, with the defaults: `make run`'s command, then a second agent
enrolled the way it prints, a restart of everything; an agent restarted (an upgrade, a crash) and a
camera added right after; the access log of a quiet deployment."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from videorec_testing.cameras import start_rtsp_camera
from videorec_testing.failover import all_completed, stop_tag
from videorec_testing.net import free_port
from videorec_testing.processes import ControlPlane, start_agent, wait_agent_online
from videorec_testing.records import assert_plays, download, records, wait_video_s
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until

pytestmark = pytest.mark.e2e

VENV_BIN = Path(sys.executable).parent


@contextmanager
def make_run(data: Path, port: int, **env: str) -> Iterator[tuple[ControlPlane, list[str]]]:
    """`make run`'s command (controlplane.launch) with the user's environment: only the port and the
    data folder are chosen here. Yields the control plane and the lines it printed so far."""
    full_env = {**os.environ, "VIDEOREC_HTTP_PORT": str(port), "VIDEOREC_DATA_DIR": str(data), **env}
    for name in ("VIDEOREC_DATABASE_URL", "VIDEOREC_AGENT_TOKEN", "VIDEOREC_AGENTS_KEY"):
        if name not in env:
            full_env.pop(name, None)
    out_path = data.parent / f"make-run-{port}.log"
    with out_path.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controlplane.launch"], env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
    cp = ControlPlane([], {}, out_path, url=f"http://127.0.0.1:{port}")
    try:

        def up() -> bool:
            assert proc.poll() is None, out_path.read_text()
            return httpx.get(cp.url + "/openapi.json", timeout=2).status_code == 200

        wait_until(up, 60, what="make run")
        wait_agent_online(cp, "local", timeout=60)
        yield cp, out_path.read_text().splitlines()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def enrol(data: Path, name: str) -> str:
    """The command `make run` prints, as the user types it (same data folder, no key in the env)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOREC_")}
    result = subprocess.run(
        [str(VENV_BIN / "videorec-controlplane"), "enrol-agent", name, "--site", "default"],
        env={**env, "VIDEOREC_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("vra") and name in token
    return token


def agent_row(cp: ControlPlane, name: str) -> dict | None:
    return next((a for a in httpx.get(cp.url + "/api/v1/agent").json() if a["name"] == name), None)


def test_a_second_agent_joins_make_run_with_the_printed_command_and_stays_after_a_restart(
    tmp_path: Path,
) -> None:
    data, port = tmp_path / "data", free_port()
    with make_run(data, port) as (cp, printed):
        text = "\n".join(printed)
        assert "add an agent" in text and "enrol-agent NAME --site default" in text, text
        # The key agents' tokens come from is the deployment's, kept beside its database.
        key = data / "agents.key"
        assert key.stat().st_mode & 0o777 == 0o600
        token = enrol(data, "gate")
        assert token not in text  # nothing secret printed
        # Camera passwords are sealed with the data folder's secrets key, made beside the agents key.
        assert (data / "secrets.key").stat().st_mode & 0o777 == 0o600
        cam = httpx.post(cp.url + "/api/v1/source", json={"uri_rtsp": "rtsp://admin:Sesame-42@10.9.9.9/s"})
        assert cam.status_code == 201, cam.text
        stored = b"".join(p.read_bytes() for p in data.glob("videorec.db*"))
        assert b"Sesame-42" not in stored and b"sealed1:" in stored
        second = start_agent(tmp_path, cp, name="gate", token=token)
        try:
            wait_agent_online(cp, "gate")
        finally:
            second.stop()
    first_key = key.read_text()
    # A restart of make run: the same key, so the token enrolled before still works.
    with make_run(data, port) as (cp, _):
        assert key.read_text() == first_key
        second = start_agent(tmp_path, cp, name="gate", token=token)
        try:
            wait_agent_online(cp, "gate", address=second.address())
            assert "401 Unauthorized" not in second.log()  # (a port may contain 401)
        finally:
            second.stop()


def test_make_run_with_a_shared_agent_token_lets_agents_join_with_it(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    with make_run(data, port, VIDEOREC_AGENT_TOKEN="a-shared-secret-of-this-site") as (cp, _):
        assert not (data / "agents.key").exists()  # the admin chose the shared mode
        second = start_agent(tmp_path, cp, name="dock", token="a-shared-secret-of-this-site")
        try:
            wait_agent_online(cp, "dock")
        finally:
            second.stop()


def test_a_camera_added_right_after_an_agent_restart_records(tmp_path: Path) -> None:
    """One agent, killed and started again: declared down meanwhile, then back but not yet "stable".
    A camera added then must still record on it: it is the only agent of its site."""
    with start_rtsp_camera() as camera, start_stack(tmp_path) as stack:
        agent = stack.agent
        agent.kill()
        wait_until(
            lambda: (row := agent_row(stack.cp, agent.name)) is not None and row["down_utc"] is not None,
            60,
            what="the agent declared down",
        )
        stack.restart_agent(agent)
        with stack.cp.client() as c:
            source = c.post("/api/v1/source", json={"uri_rtsp": camera.url}).json()
            group = c.post("/api/v1/group", json={"name": "after-restart"}).json()
            assert c.post(f"/api/v1/group/{group['id']}/source/{source['id']}").json() is True
            started = c.post("/api/v1/record", json={"tag_name": "t", "group_name": "after-restart"})
            assert started.status_code == 200, started.text
        (record,) = records(stack.cp, "t")
        assert record["status"] == "recording", record
        wait_video_s(stack.cp, record["id"], 2.0)
        stop_tag(stack.cp, "t")
        (done,) = all_completed(stack.cp, "t", 1)
        status, _, body = download(stack.cp, done["id"])
        assert status == 200 and hashlib.md5(body).hexdigest() == done["hash_md5"]  # noqa: S324
        assert_plays(body, tmp_path, expected_s=done["duration_s"], tolerance=0.5)
        assert done["duration_s"] >= 2.0


def test_heartbeats_and_health_probes_stay_out_of_the_access_log(tmp_path: Path) -> None:
    with start_stack(tmp_path) as stack:
        wait_until(lambda: httpx.get(stack.cp.url + "/healthz").status_code == 200, 10, what="healthz")
        with stack.cp.client() as c:
            assert c.get("/api/v1/agent").status_code == 200

        def api_call_logged() -> bool:
            return re.search(r'"GET /api/v1/agent HTTP/1.1" 200', stack.cp.log()) is not None

        wait_until(api_call_logged, 10, what="the API call in the access log")
        log = stack.cp.log()
        assert "/internal/v1/agent/heartbeat" not in log and "/healthz" not in log, log[-2000:]
