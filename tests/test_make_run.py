"""`make run`'s command as a real process on a free port, driven over HTTP like a user with curl."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from videorec_testing.media import assert_jpeg_decodes
from videorec_testing.net import free_port
from videorec_testing.wait import wait_until


def test_the_run_command_serves_the_api_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "VIDEOREC_HTTP_PORT": str(port),
        "VIDEOREC_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("VIDEOREC_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlplane.launch"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert proc.poll() is None, "the service exited during start-up"
            return httpx.get(base + "/openapi.json", timeout=1).status_code == 200

        wait_until(answers, 60, interval=0.1, what=base)
        source = httpx.post(
            base + "/api/v1/source", json={"model": "Source", "uri_rtsp": "rtsp://10.0.0.5/s"}
        ).json()
        group = httpx.post(base + "/api/v1/group", json={"name": "North gate"}).json()
        assert httpx.post(f"{base}/api/v1/group/{group['id']}/source/{source['id']}/").json() is True
        read = httpx.get(f"{base}/api/v1/group/{group['id']}/").json()
        assert read["sources"][0]["uri_rtsp"] == "rtsp://10.0.0.5/s"
        assert (tmp_path / "data" / "videorec.db").exists()
        # The local agent joined by itself, and the picture pipeline works through it.
        wait_until(
            lambda: any(
                a["name"] == "local" and a["state"] == "online"
                for a in httpx.get(base + "/api/v1/agent").json()
            ),
            60,
            what="the local agent online",
        )
        img = httpx.get(base + "/test/img", timeout=60)
        assert img.status_code == 200
        assert_jpeg_decodes(img.content)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode(errors="replace")
    assert b"agent local stopping" in out  # stopped together with the control plane
    assert f"http://127.0.0.1:{port}" in out.decode()


def test_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    env = {**os.environ, "VIDEOREC_HTTP_HOST": "0.0.0.0", "VIDEOREC_DATA_DIR": str(tmp_path)}
    env.pop("VIDEOREC_API_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "controlplane"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "VIDEOREC_API_TOKEN" in result.stderr


def test_make_run_installs_what_running_needs_and_no_developer_tool() -> None:
    """`make run` on a fresh machine: the project and ffmpeg; not pytest, mypy, Playwright, moto or
    schemathesis (the dev extra), nor Chromium, promtool or the GStreamer test camera."""
    root = Path(__file__).resolve().parents[1]
    printed = subprocess.run(
        ["make", "-n", "-B", "run"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    assert "pip install --quiet -e ." in printed and "apt-get install -y -qq ffmpeg" in printed
    for tool in ("[dev]", "chromium", "prometheus", "gstreamer", "podman", "playwright"):
        assert tool not in printed, (tool, printed)
    test = subprocess.run(["make", "-n", "-B", "test"], cwd=root, capture_output=True, text=True, check=True)
    assert "-e '.[dev]'" in test.stdout and "chromium" in test.stdout  # the suite's tools come with make test
    # ...and `make lint` runs first: ruff, mypy and the schema check.
    assert "ruff check ." in test.stdout and "controlplane.schema check" in test.stdout
