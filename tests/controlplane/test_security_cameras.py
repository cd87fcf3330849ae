"""Camera URLs may not reach the service's own machine or other refused networks (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controlplane.app import create_app
from tests.conftest import make_settings


def _app(tmp_path: Path, **overrides: object) -> TestClient:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", **overrides)
    return TestClient(create_app(settings), base_url="http://127.0.0.1")


def _picture(uri: str) -> dict:
    return {"model": "PictureSource", "uri_http_picture": {"uri": uri}}


LOCAL_URIS = [
    "http://127.0.0.1:8080/openapi.json",
    "http://localhost/x.jpg",
    "http://[::1]/x.jpg",
    "http://169.254.169.254/latest/meta-data",
    "http://0.0.0.0:5432/",
    "http://[::ffff:127.0.0.1]/x.jpg",
    "http://127.1.2.3/x.jpg",
]


@pytest.mark.parametrize("uri", LOCAL_URIS)
def test_local_camera_urls_are_refused_by_default(tmp_path: Path, uri: str) -> None:
    with _app(tmp_path) as client:
        response = client.post("/api/v1/source", json=_picture(uri))
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", "uri_http_picture", "uri"]
        rtsp = uri.replace("http://", "rtsp://")
        assert client.post("/api/v1/source", json={"uri_rtsp": rtsp}).status_code == 422
        assert client.get("/api/v1/source").json() == []


def test_a_put_to_a_local_camera_url_is_refused(tmp_path: Path) -> None:
    with _app(tmp_path) as client:
        created = client.post("/api/v1/source", json=_picture("http://10.0.0.6/s.jpg")).json()
        put = client.put(f"/api/v1/source/{created['id']}", json={"uri_http_picture": {"uri": LOCAL_URIS[0]}})
        assert put.status_code == 422
        assert (
            client.get(f"/api/v1/source/{created['id']}")
            .json()["uri_http_picture"]["uri"]
            .startswith("http://10.")
        )


def test_the_setting_allows_local_cameras_and_fetch_time_checks_again(tmp_path: Path) -> None:
    with _app(tmp_path, camera_allow_local=True) as client:
        created = client.post("/api/v1/source", json=_picture(LOCAL_URIS[0]))
        assert created.status_code == 201, created.text
    # The same database under the default policy: the stored URL is refused before any agent is asked.
    with _app(tmp_path) as client:
        response = client.get(f"/api/v1/source/{created.json()['id']}/picture")
        assert response.status_code == 403
        assert "loopback" in response.json()["detail"]


def test_deny_and_allow_networks(tmp_path: Path) -> None:
    with _app(tmp_path, camera_networks_deny=["10.0.0.0/8"]) as client:
        assert client.post("/api/v1/source", json=_picture("http://10.0.0.6/s.jpg")).status_code == 422
        assert client.post("/api/v1/source", json=_picture("http://192.168.1.5/s.jpg")).status_code == 201
    with _app(tmp_path, camera_networks_allow=["192.168.0.0/16"]) as client:
        assert client.post("/api/v1/source", json=_picture("http://10.0.0.6/s.jpg")).status_code == 422
        assert client.post("/api/v1/source", json=_picture("http://192.168.1.6/s.jpg")).status_code == 201
