"""The deployment's own tests: the image built and run with podman, the manifests rendered."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.deploy.support import BUILD_SCRIPT, STANDINS, podman, require, require_tool

# The image the container tests share: built once per worker (they all run in xdist group "image").
TAG = "localhost/videorec:test"
# Stand-ins for the compose file's third-party images, which no registry serves here.
STANDIN_TAGS = {
    "VIDEOREC_POSTGRES_IMAGE": ("postgres.Containerfile", "localhost/videorec-standin-postgres:16"),
    "VIDEOREC_PROXY_IMAGE": ("caddy.Containerfile", "localhost/videorec-standin-caddy:2"),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "container: builds and runs the OCI image with podman (skipped where podman cannot run)"
    )


@pytest.fixture(
    scope="session"
)  # once per worker: a module fixture is rebuilt when xdist interleaves modules
def image() -> str:
    require_tool("podman")
    require(os.geteuid() == 0, "podman runs containers as root on these machines (see deploy/image/build.sh)")
    info = podman("info", check=False)
    require(info.returncode == 0, f"podman cannot run here: {info.stderr.strip()[-500:]}")
    started = time.monotonic()
    result = subprocess.run(
        [str(BUILD_SCRIPT), TAG], capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, f"image build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    print(f"image {TAG} built in {time.monotonic() - started:.0f} s")
    return TAG


@pytest.fixture(scope="session")
def standin_images(image: str) -> dict[str, str]:
    """{compose variable: image} for PostgreSQL and Caddy, built from Debian's packages on the base
    the image build made (cached by podman's layers after the first build: ~70 s cold)."""
    for containerfile, tag in STANDIN_TAGS.values():
        podman("build", "--pull=never", "--network", "host", "--layers", "-f", str(STANDINS / containerfile),
               "-t", tag, str(STANDINS), timeout=600)  # fmt: skip
    return {variable: tag for variable, (_, tag) in STANDIN_TAGS.items()}
