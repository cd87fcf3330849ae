"""/docs and /redoc render in a browser that can reach nothing but the control plane, as on a site
without internet: their scripts and styles are the project's own, not a CDN's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.console.conftest import needs_chromium
from videorec_testing.processes import ControlPlane, start_controlplane

pytestmark = [needs_chromium, pytest.mark.e2e]


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = start_controlplane(tmp_path_factory.mktemp("docs"))
    try:
        yield cp
    finally:
        cp.stop()


def open_offline(browser, cp: ControlPlane, path: str, ready: str, tmp_path: Path) -> tuple[list[str], Path]:
    """Load `path` with every request to another origin refused; what was refused (images aside), and
    a screenshot."""
    own = urlsplit(cp.url).netloc
    refused: list[str] = []
    page = browser.new_page()
    try:

        def route(request_route) -> None:
            if urlsplit(request_route.request.url).netloc == own:
                request_route.continue_()
            else:
                # ReDoc's "powered by" logo is an image from its CDN: decoration, not the page.
                if request_route.request.resource_type != "image":
                    refused.append(request_route.request.url)
                request_route.abort()

        page.route("**/*", route)
        page.goto(cp.url + path)
        page.wait_for_selector(ready, timeout=30_000)
        shot = tmp_path / f"{path.strip('/')}.png"
        page.screenshot(path=str(shot))
        return refused, shot
    finally:
        page.close()


def test_swagger_ui_renders_the_api_without_internet(browser, cp: ControlPlane, tmp_path: Path) -> None:
    # An operation of the API, drawn by Swagger UI's own script: it loaded, and it read /openapi.json.
    refused, shot = open_offline(browser, cp, "/docs", ".opblock-summary-path", tmp_path)
    assert refused == []
    assert shot.stat().st_size > 10_000


def test_redoc_renders_the_api_without_internet(browser, cp: ControlPlane, tmp_path: Path) -> None:
    refused, _ = open_offline(browser, cp, "/redoc", "[data-section-id^='operation/']", tmp_path)
    assert refused == []
