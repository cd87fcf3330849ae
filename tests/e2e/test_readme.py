"""The README's "Try it", run as a new user would type it: its shell lines, word for word, against
`make run`'s command and `make camera`'s test camera (only their ports are moved to free ones)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from videorec_testing.cameras import CameraProcess, ensure_debian_python_gi
from videorec_testing.net import free_port
from videorec_testing.processes import ControlPlane, wait_agent_online
from videorec_testing.wait import wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def readme_block(heading: str) -> list[str]:
    """The first shell block under `heading`, continuation lines joined."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"\n{heading}\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return block.replace("\\\n", " ").splitlines()


def make_target(name: str) -> list[str]:
    """The command a Makefile target runs (its one recipe line), as `make -n` prints it."""
    printed = subprocess.run(
        ["make", "-s", "-n", "-o", ".venv/.installed-run", "-o", "run-deps", "-o", "camera-deps", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return shlex.split(printed.splitlines()[-1])


def test_the_readme_first_recording_plays_and_matches_its_md5(tmp_path: Path) -> None:
    lines = readme_block("## Try it")
    assert lines[0].startswith("make run &") and lines[1].startswith("make camera &"), lines[:2]
    cp_port, cam_port = free_port(), free_port()

    def moved(line: str) -> str:
        return line.replace("127.0.0.1:8080", f"127.0.0.1:{cp_port}").replace(":8554", f":{cam_port}")

    run = make_target("run")
    camera = make_target("camera")
    assert run[-2:] == ["-m", "controlplane.launch"] and "--port" in camera
    at = camera.index("--port")
    camera = [camera[0], str(ROOT / camera[1]), *camera[2:at], *camera[at + 2 :]]  # the port is ours
    ensure_debian_python_gi()

    # A checkout of its own: the user's folder, with the project's .venv; data/ lands here.
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOREC_")}
    env |= {"VIDEOREC_HTTP_PORT": str(cp_port), "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "make-run.log").open("wb")
    cp_proc = subprocess.Popen([sys.executable, *run[1:]], cwd=tmp_path, env=env, stdout=log, stderr=log)
    cam = CameraProcess(camera, tmp_path / "camera.log", port=cam_port).start()
    try:
        cp = ControlPlane([], {}, tmp_path / "make-run.log", url=f"http://127.0.0.1:{cp_port}")
        wait_until(lambda: httpx.get(cp.url + "/openapi.json").status_code == 200, 60, what="make run")
        wait_agent_online(cp, "local", timeout=60)
        script = "set -e\n" + "\n".join(moved(line) for line in lines[2:]) + "\n"
        done = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        (record,) = httpx.get(cp.url + "/api/v1/record", params={"tag_name": "first"}).json()
        add_an_agent(cp, [moved(line) for line in readme_block("### Add an agent")], tmp_path, env)
    finally:
        cam.stop()
        cp_proc.terminate()
        cp_proc.wait(timeout=60)
        log.close()
    out = done.stdout
    assert record["status"] == "completed" and record["hash_md5"], record
    assert '"status":"completed"' in out  # what the README's reader saw
    duration = float(re.search(r"duration=([0-9.]+)", out).group(1))
    assert 4.0 <= duration <= 8.0, out
    assert f"{record['hash_md5']}  first.mp4" in out  # md5sum's line: the bytes served are the record's


def add_an_agent(cp: ControlPlane, lines: list[str], cwd: Path, env: dict[str, str]) -> None:
    """The README's second agent, typed in the same folder: it joins with the token it enrolled."""
    (command,) = [line for line in lines if line.strip()]
    agent = subprocess.Popen(
        ["bash", "-c", command],  # env assignments before the command: bash runs it as typed
        cwd=cwd,
        env={k: v for k, v in env.items() if k != "VIDEOREC_HTTP_PORT"},
        stdout=subprocess.DEVNULL,
        stderr=(cwd / "dock.log").open("wb"),
    )
    try:
        wait_agent_online(cp, "dock", timeout=60)
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    assert (cwd / "data" / "agent-dock").is_dir()
