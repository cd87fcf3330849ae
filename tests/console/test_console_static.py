"""The console's files as the control plane serves them: types, caching, headers, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controlplane.app import create_app
from controlplane.console import ASSETS
from tests.conftest import make_settings


@pytest.fixture
def local(tmp_path: Path) -> TestClient:
    return TestClient(
        create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")),
        base_url="http://127.0.0.1",
    )


def test_root_serves_the_console_page_with_a_same_origin_policy(local: TestClient) -> None:
    with local:
        page = local.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/console/js/app.js">' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/console/js/app.js", "text/javascript; charset=utf-8"),
        ("/console/js/views/playback.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
        ("/console/icon.svg", "image/svg+xml"),
    ],
)
def test_assets_carry_their_content_type(local: TestClient, path: str, content_type: str) -> None:
    with local:
        answer = local.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == content_type


def test_an_unchanged_asset_is_a_304_by_its_etag(local: TestClient) -> None:
    with local:
        first = local.get("/console/js/app.js")
        again = local.get("/console/js/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    "path",
    ["/console/missing.js", "/console/../app.py", "/console/%2e%2e/__init__.py", "/console/js", "/console/"],
)
def test_only_the_packaged_files_are_served(local: TestClient, path: str) -> None:
    with local:
        assert local.get(path).status_code == 404


def test_every_module_the_page_imports_is_packaged() -> None:
    """A module that is not in the table would 404 in the browser and leave a blank page."""
    import re

    for name, asset in ASSETS.items():
        if not name.endswith(".js"):
            continue
        folder = name.rsplit("/", 1)[0]
        for target in re.findall(r'from "(\.{1,2}/[^"]+)"', asset.body.decode()):
            parts = folder.split("/")
            for piece in target.split("/"):
                if piece == "..":
                    parts.pop()
                elif piece != ".":
                    parts.append(piece)
            assert "/".join(parts) in ASSETS, f"{name} imports {target}"


def test_no_view_imports_another_view() -> None:
    """What views share lives in modules of its own: a view is free to change without breaking another."""
    import re

    views = {
        name: asset for name, asset in ASSETS.items() if name.startswith("js/views/") and name.endswith(".js")
    }
    assert views
    for name, asset in views.items():
        imports = re.findall(r'from "([^"]+)"', asset.body.decode())
        assert not [i for i in imports if i.startswith("./")], f"{name} imports {imports}"


def test_the_console_loads_without_the_token_that_the_api_needs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", api_token="s3cret-token")
    with TestClient(create_app(settings), base_url="http://console.example") as client:
        assert client.get("/").status_code == 200
        assert client.get("/console/js/api.js").status_code == 200
        assert client.get("/api/v1/source").status_code == 401
        page = client.get("/").text + "".join(
            a.body.decode() for a in ASSETS.values() if a.content_type.startswith("text")
        )
    assert "s3cret-token" not in page
