"""The optional bearer token, the OpenAPI description and the slash rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controlplane.app import create_app
from tests.conftest import make_settings


@pytest.fixture
def token_client(tmp_path: Path) -> TestClient:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", api_token="t0ken-abc")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dDp0"}])
def test_api_without_the_right_token_is_401(token_client: TestClient, headers: dict) -> None:
    for path in ("/api/v1/source", "/api/v1/group/", "/api/v1/tag/begin"):
        response = token_client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
    response = token_client.post("/api/v1/group", json={"name": "x"}, headers=headers)
    assert response.status_code == 401
    ok = token_client.get("/api/v1/group", headers={"Authorization": "Bearer t0ken-abc"})
    assert ok.json() == []


def test_api_with_the_token_works(token_client: TestClient) -> None:
    auth = {"Authorization": "Bearer t0ken-abc"}
    assert token_client.post("/api/v1/group", json={"name": "x"}, headers=auth).status_code == 201
    assert [g["name"] for g in token_client.get("/api/v1/group", headers=auth).json()] == ["x"]


def test_openapi_describes_every_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path, methods in {
        "/api/v1/source": {"get", "post"},
        "/api/v1/source/{source_id}": {"get", "put", "delete"},
        "/api/v1/group": {"get", "post"},
        "/api/v1/group/{group_id}": {"get", "delete"},
        "/api/v1/group/{group_id}/source/{source_id}": {"post", "delete"},
        "/api/v1/tag": {"get"},
        "/api/v1/tag/begin": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    assert {"SourceCreate", "SourcePublic", "GroupWithSources", "TagPublic"} <= set(
        schema["components"]["schemas"]
    )
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/source", "/api/v1/source/", "/api/v1/group", "/api/v1/group/"])
def test_both_slash_forms_answer_without_redirect(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 200
    assert response.json() == []
