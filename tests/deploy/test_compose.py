"""deploy/README.md's compose commands, run as written with podman-compose (the page's stand-in for
`docker compose` where there is no Docker daemon): a site comes up on 127.0.0.1 from deploy/compose.yaml,
answers /readyz and the API through Caddy with its agent online, is upgraded to a new image tag by the
page's upgrade steps (dump, migrate, replicas, agent), answers again with what it held, and is torn down.

PostgreSQL's and Caddy's images come from no registry here: stand-ins built from Debian's packages
(tests/deploy/standins) take their place through VIDEOREC_POSTGRES_IMAGE / VIDEOREC_PROXY_IMAGE."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.support import DEPLOY, podman, podman_env, require
from tests.test_docs_commands import VENV_BIN, commands_of, shell
from videorec_testing.net import free_port
from videorec_testing.wait import wait_until

pytestmark = [
    pytest.mark.container,
    pytest.mark.e2e,
    pytest.mark.xdist_group("image"),
    # ~100-130 s warm (images cached); the first test of the group may also build the image from
    # nothing (minutes, see test_image.py) and the stand-ins (~70 s cold).
    pytest.mark.timeout(1200),
]

PAGE = "deploy/README.md"
# The page says podman-compose takes every `docker compose` command of it.
DOCKER_COMPOSE = "docker compose"
PODMAN_COMPOSE = "podman-compose"


def as_podman(command: str) -> str:
    return command.replace(DOCKER_COMPOSE, PODMAN_COMPOSE)


class Site:
    """A copy of deploy/ in a temporary folder, and the environment its commands run with: podman's
    engine settings and a project name of the test's own (never a secret: those stay in .env)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copytree(DEPLOY, root / "deploy", ignore=shutil.ignore_patterns(".env", "*.dump"))
        self.folder = root / "deploy"
        self.project = f"videorec-test-{uuid.uuid4().hex[:8]}"
        env = podman_env()
        self.env = {"COMPOSE_PROJECT_NAME": self.project}
        if "CONTAINERS_CONF" in env:
            self.env["CONTAINERS_CONF"] = env["CONTAINERS_CONF"]
        self.url = ""

    def run(self, command: str, cwd: Path | None = None) -> str:
        started = time.monotonic()
        done = shell(command, cwd or self.folder, {}, **self.env)
        took = time.monotonic() - started
        assert done.returncode == 0, f"{command!r} exited {done.returncode}:\n{done.stderr[-4000:]}"
        print(f"{took:5.1f} s  {command}")
        return done.stdout

    def set_env(self, **values: str) -> None:
        """Fill in .env as the admin does: each named line replaced, or added."""
        path = self.folder / ".env"
        text = path.read_text()
        for key, value in values.items():
            line = f"{key}={value}"
            text, found = re.subn(rf"^{key}=.*$", line, text, flags=re.M)
            if not found:
                text += line + "\n"
        path.write_text(text)

    def env_value(self, key: str) -> str:
        match = re.search(rf"^{key}=(.*)$", (self.folder / ".env").read_text(), flags=re.M)
        assert match is not None, key
        return match.group(1)

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def image_of(self, service: str) -> str:
        return podman("inspect", "--format", "{{.ImageName}}", self.container(service)).stdout.strip()

    def logs(self) -> str:
        out = []
        for service in ("migrate", "controlplane-1", "controlplane-2", "proxy", "agent"):
            result = podman("logs", "--tail", "15", self.container(service), check=False)
            out.append(f"--- {service}\n{result.stdout[-1500:]}{result.stderr[-1500:]}")
        return "\n".join(out)

    def down(self) -> None:
        shell(f"{PODMAN_COMPOSE} down -v", self.folder, {}, **self.env)
        # Whatever a failed `down` left: the project's containers by label, then its volumes.
        left = podman("ps", "-aq", "--filter", f"label=io.podman.compose.project={self.project}", check=False)
        for container in left.stdout.split():
            podman("rm", "--force", "--time", "0", container, check=False)
        for volume in ("postgres-data", "recordings"):
            podman("volume", "rm", "--force", f"{self.project}_{volume}", check=False)
        podman("network", "rm", "--force", f"{self.project}_default", check=False)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    # The developer's tools' virtualenv has it (pyproject's dev extra); the docs' commands run with it on PATH.
    found = shutil.which(PODMAN_COMPOSE, path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    require(found is not None, f"{PODMAN_COMPOSE} is not installed (`make install` installs it)")
    made = Site(tmp_path)
    try:
        yield made
    finally:
        made.down()


class Probe:
    """Asks /readyz every 0.2 s in a thread while the block runs: how many answered 200."""

    def __init__(self, url: str) -> None:
        self.url, self.ok, self.failed = url, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            if ready(self.url):
                self.ok += 1
            else:
                self.failed += 1

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def __str__(self) -> str:
        return f"{self.ok} of {self.ok + self.failed} probes answered 200"


def wait_for(site: Site, check: Callable[[], bool], timeout: float, what: str) -> None:
    try:
        wait_until(check, timeout, interval=0.5, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{site.logs()}") from None


def ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def agent_online(site: Site, token: str) -> bool:
    try:
        agents = httpx.get(
            f"{site.url}/api/v1/agent", headers={"Authorization": f"Bearer {token}"}, timeout=3
        )
    except httpx.HTTPError:
        return False
    return agents.status_code == 200 and [(a["name"], a["state"]) for a in agents.json()] == [
        ("agent-1", "online")
    ]


def test_the_compose_commands_bring_a_site_up_and_upgrade_it(
    image: str, standin_images: dict[str, str], site: Site
) -> None:
    started = time.monotonic()
    (copy,) = commands_of(PAGE, "cd deploy && cp .env.example .env")
    (enrol,) = commands_of(PAGE, "(set -a; . ./.env; podman run")
    (up,) = commands_of(PAGE, f"{PODMAN_COMPOSE} up -d")
    dump, migrate, replicas, agent = commands_of(PAGE, f"{DOCKER_COMPOSE} ")[1:]
    assert commands_of(PAGE, DOCKER_COMPOSE)[0] == "docker compose up -d"

    # Deploying: the copy, the secrets filled in (openssl rand -hex 32 is 32 random bytes in hex),
    # the image and a port on 127.0.0.1, the enrolment, its token into .env, then up.
    site.run(copy, cwd=site.root)
    port = free_port()
    site.url = f"http://127.0.0.1:{port}"
    api_token = secrets.token_hex(32)
    site.set_env(
        POSTGRES_PASSWORD=secrets.token_hex(32),
        VIDEOREC_API_TOKEN=api_token,
        VIDEOREC_AGENTS_KEY=secrets.token_hex(32),
        VIDEOREC_IMAGE=image,
        VIDEOREC_HTTP_PUBLISH=f"127.0.0.1:{port}",
        **standin_images,
    )
    token = site.run(enrol).strip()
    assert len(token) > 40 and " " not in token
    site.set_env(VIDEOREC_AGENT_TOKEN=token)
    site.run(up)
    wait_for(site, lambda: ready(site.url), 180, "the site's /readyz through Caddy")
    wait_for(site, lambda: agent_online(site, api_token), 60, "agent-1 online")
    headers = {"Authorization": f"Bearer {api_token}"}
    made = httpx.post(
        f"{site.url}/api/v1/source",
        json={"model": "Source", "uri_rtsp": "rtsp://10.0.0.9/s"},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    print(f"up and serving after {time.monotonic() - started:.0f} s")

    # Upgrading: the new image in .env (a new tag of the same build: what changes is the tag the
    # containers are made from), then the page's steps in order.
    new_image = f"{image.rsplit(':', 1)[0]}:upgrade-{uuid.uuid4().hex[:8]}"
    podman("tag", image, new_image)
    try:
        site.set_env(VIDEOREC_IMAGE=new_image)
        upgrade_started = time.monotonic()
        site.run(as_podman(dump))
        assert (site.folder / "videorec-before-upgrade.dump").read_bytes()[:5] == b"PGDMP"
        assert "database schema at" in site.run(as_podman(migrate))
        with Probe(site.url) as probe:  # measured, not asserted: podman-compose recreates Caddy too
            site.run(as_podman(replicas))
        print(f"/readyz through Caddy while the replicas were recreated: {probe}")
        site.run(as_podman(agent))
        for service in ("controlplane-1", "controlplane-2", "agent"):
            assert site.image_of(service) == new_image, service
        wait_for(site, lambda: ready(site.url), 180, "the upgraded site's /readyz")
        wait_for(site, lambda: agent_online(site, api_token), 60, "agent-1 back online")
        print(f"upgraded and serving after {time.monotonic() - upgrade_started:.0f} s")
        kept = httpx.get(f"{site.url}/api/v1/source/{made.json()['id']}", headers=headers)
        assert kept.status_code == 200 and kept.json()["uri_rtsp"] == "rtsp://10.0.0.9/s"
    finally:
        site.down()
        podman("rmi", new_image, check=False)  # the tag only: the image is the suite's
    assert site.env_value("VIDEOREC_IMAGE") == new_image
