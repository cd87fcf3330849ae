"""The OCI image, built and run with podman: migrate, a control plane and an agent from it record the
RTSP test camera against the machine's PostgreSQL; the file's MD5 is the record's; SIGTERM ends both
cleanly; nothing in either container runs as root."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.deploy.support import BUILD_SCRIPT, podman, process_tree
from videorec_testing.cameras import start_rtsp_camera
from videorec_testing.db import postgres_database
from videorec_testing.net import free_port
from videorec_testing.processes import ControlPlane, wait_agent_online, wait_until

# A cold build (debootstrap, apt, pip) takes minutes on 2 cores: the suite's 180 s would cut it off.
pytestmark = [
    pytest.mark.container,
    pytest.mark.e2e,
    pytest.mark.xdist_group("image"),
    pytest.mark.timeout(1200),
]

USER = 10001
# Kept small on purpose; most of it is Debian's ffmpeg and its libraries (README, "Deploying").
MAX_IMAGE_BYTES = 650 * 1000 * 1000  # 556 MB when this was written


@dataclass
class Container:
    name: str

    def inspect(self, template: str) -> str:
        return podman("inspect", "--format", template, self.name).stdout.strip()

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def stop(self, timeout: int = 10) -> tuple[int, float]:
        """SIGTERM (the image's STOPSIGNAL), SIGKILL after `timeout` s: (exit code, seconds taken)."""
        started = time.monotonic()
        podman("stop", "--time", str(timeout), self.name, timeout=timeout + 30)
        return int(self.inspect("{{.State.ExitCode}}")), time.monotonic() - started


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        podman("rm", "--force", "--time", "0", container.name, check=False)


def run_detached(
    containers: list[Container], image: str, name: str, command: list[str], env: dict[str, str], *extra: str
) -> Container:
    """Start a container the way the manifests do: read-only root, no capabilities, /tmp in memory."""
    container = Container(f"videorec-test-{name}-{uuid.uuid4().hex[:8]}")
    flags = [f"--env={key}" for key in env]  # values come from podman's environment, not argv
    podman(
        "run", "--detach", "--name", container.name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges", *flags, *extra, image, *command,
        env=env,
    )  # fmt: skip
    containers.append(container)
    return container


def test_image_is_small_non_root_without_a_compiler_and_has_a_healthcheck(image: str) -> None:
    (info,) = json.loads(podman("image", "inspect", image).stdout)
    assert info["Config"]["User"] == f"{USER}:{USER}"
    assert "videorec-healthcheck" in " ".join(info["Healthcheck"]["Test"])  # podman: top level
    assert info["Config"]["Cmd"] == ["videorec-controlplane"]
    assert info["Size"] < MAX_IMAGE_BYTES, f"image grew to {info['Size'] / 1e6:.0f} MB"
    probe = "for c in gcc cc c++ make; do command -v $c && exit 1; done; ffmpeg -hide_banner -version"
    result = podman("run", "--rm", "--network", "none", image, "sh", "-c", probe, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ffmpeg version")
    for command in (["videorec-controlplane", "--help"], ["videorec-agent", "--help"]):
        # Both entry points import (an unknown argument makes the control plane print its usage).
        result = podman("run", "--rm", "--network", "none", image, "python3", "-c",
                        f"import {'controlplane.app' if 'controlplane' in command[0] else 'agent.main'}",
                        check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr


def test_make_image_again_after_an_interrupted_build_and_twice_at_once(image: str) -> None:
    """What a killed debootstrap leaves (a half-made root with its device nodes) is cleared by the
    next build, and two builds started together (two test workers, a user's second `make image`)
    take turns instead of making one root at the same time."""
    work = BUILD_SCRIPT.parents[2] / "build" / "podman"
    for stale in (work / "debian-root", work / "debian-root.interrupted"):
        (stale / "dev").mkdir(parents=True, exist_ok=True)
        subprocess.run(["mknod", str(stale / "test-dev-null"), "c", "1", "3"], check=True)
    builds = [
        subprocess.Popen(
            [str(BUILD_SCRIPT), image], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    for build in builds:
        out, _ = build.communicate(timeout=900)
        assert build.returncode == 0, out[-4000:]
    assert not list(work.glob("debian-root*")), list(work.iterdir())
    podman("image", "exists", image)


def test_image_migrates_records_and_stops_cleanly_as_non_root(
    image: str, containers: list[Container], tmp_path: Path
) -> None:
    with postgres_database() as database_url, start_rtsp_camera() as camera:
        secrets_env = {
            "VIDEOREC_DATABASE_URL": database_url,
            "VIDEOREC_API_TOKEN": secrets.token_hex(16),
            "VIDEOREC_AGENTS_KEY": secrets.token_hex(16),
        }
        migrate = podman("run", "--rm", "--network", "host", "--env=VIDEOREC_DATABASE_URL", image,
                         "videorec-controlplane", "migrate", env=secrets_env)  # fmt: skip
        assert "database schema at" in migrate.stdout

        http_port = free_port()
        cp_container = run_detached(
            containers,
            image,
            "cp",
            [],  # the image's default command is the control plane
            {
                **secrets_env,
                "VIDEOREC_HTTP_PORT": str(http_port),
                # The test camera is on this machine's loopback, which camera URLs may not name otherwise.
                "VIDEOREC_CAMERA_ALLOW_LOCAL": "true",
            },
        )
        cp = ControlPlane([], {}, tmp_path / "unused.log", url=f"http://127.0.0.1:{http_port}")
        cp.api_token = secrets_env["VIDEOREC_API_TOKEN"]
        wait_until(
            lambda: httpx.get(cp.url + "/readyz", timeout=2).status_code == 200,
            60,
            what=f"control plane ready; its log:\n{cp_container.logs()}",
        )

        agent_name = "image-agent"
        token = podman("run", "--rm", "--network", "none", "--env=VIDEOREC_AGENTS_KEY", image,
                       "videorec-controlplane", "enrol-agent", agent_name, env=secrets_env).stdout.strip()  # fmt: skip
        storage = tmp_path / "storage"
        storage.mkdir()
        os.chown(storage, USER, USER)
        agent_container = run_detached(
            containers,
            image,
            "agent",
            ["videorec-agent"],
            {
                "VIDEOREC_AGENT_NAME": agent_name,
                "VIDEOREC_AGENT_TOKEN": token,
                "VIDEOREC_AGENT_GRPC_HOST": "127.0.0.1",
                "VIDEOREC_AGENT_GRPC_PORT": str(free_port()),
                # A fixed HTTP port: the container's health check asks GET /healthz there.
                "VIDEOREC_AGENT_HTTP_PORT": str(free_port()),
                "VIDEOREC_AGENT_CONTROLPLANE_URL": cp.url,
            },
            "--volume", f"{storage}:/var/lib/videorec-agent",
        )  # fmt: skip
        wait_agent_online(cp, agent_name, timeout=60)

        with cp.client(timeout=60) as c:
            group = c.post("/api/v1/group", json={"name": "gate"}).json()
            created = c.post("/api/v1/source", json={"model": "Source", "uri_rtsp": camera.url})
            assert created.status_code == 201, created.text
            source = created.json()
            assert c.post(f"/api/v1/group/{group['id']}/source/{source['id']}").json() is True
            assert (
                c.post("/api/v1/record", json={"tag_name": "img-1", "group_name": "gate"}).status_code == 200
            )
            (record,) = c.get("/api/v1/record", params={"tag_name": "img-1"}).json()
            wait_until(
                lambda: (
                    c.get(
                        f"/api/v1/record/{record['id']}/video/", headers={"Range": "bytes=0-99"}
                    ).status_code
                    == 206
                ),
                60,
                what="first recorded bytes",
            )
            # While ffmpeg records: every process of both containers, ffmpeg included, is the image's user.
            agent_processes = process_tree(int(agent_container.inspect("{{.State.Pid}}")))
            assert "ffmpeg" in {comm for _, _, comm in agent_processes}, agent_processes
            for container in (cp_container, agent_container):
                for pid, uid, comm in process_tree(int(container.inspect("{{.State.Pid}}"))):
                    assert uid == USER, (container.name, pid, comm, uid)
            assert podman("healthcheck", "run", cp_container.name, check=False).returncode == 0
            assert (
                podman("exec", agent_container.name, "videorec-healthcheck", "agent", check=False).returncode
                == 0
            )

            time.sleep(3)  # the recording itself
            assert c.put("/api/v1/record", json={"tag_name": "img-1"}).status_code == 200
            (record,) = c.get("/api/v1/tag", params={"name": "img-1"}).json()["records"]
            assert record["status"] == "completed", record
            video = c.get(f"/api/v1/record/{record['id']}/video/")
        assert video.status_code == 200
        assert len(video.content) == record["size_bytes"] > 0
        assert hashlib.md5(video.content).hexdigest() == record["hash_md5"]  # noqa: S324 - the API's checksum
        assert video.content[4:8] == b"ftyp"

        for container in (agent_container, cp_container):
            code, took = container.stop(timeout=10)
            assert code == 0 and took < 10, (container.name, code, took, container.logs()[-3000:])
        # Stopping changed nothing the database says about the finished record.
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT status, hash_md5 FROM record WHERE id = %s", (record["id"],)
            ).fetchone()
        assert row is not None and str(row[0]).lower() == "completed" and row[1] == record["hash_md5"]
