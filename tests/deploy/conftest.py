"""The deployment's own tests: the image built and run with podman, the manifests rendered."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "container: builds and runs the OCI image with podman (skipped where podman cannot run)"
    )
