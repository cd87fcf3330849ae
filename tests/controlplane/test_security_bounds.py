"""Every integer and string is bounded at the edge: a 422, never a 500 (issue 14)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

HUGE = [2**31, 2**63, 2**64, 10**30]


@pytest.mark.parametrize("big", HUGE)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/source/{n}"),
        ("put", "/api/v1/source/{n}"),
        ("delete", "/api/v1/source/{n}"),
        ("get", "/api/v1/source/{n}/picture"),
        ("get", "/api/v1/group/{n}"),
        ("delete", "/api/v1/group/{n}"),
        ("post", "/api/v1/group/{n}/source/1"),
        ("delete", "/api/v1/group/1/source/{n}"),
    ],
)
def test_ids_beyond_the_id_columns_are_422(client: TestClient, method: str, path: str, big: int) -> None:
    response = client.request(method, path.format(n=big), json={})
    assert response.status_code == 422, response.text


def test_the_largest_id_is_a_404(client: TestClient) -> None:
    assert client.get(f"/api/v1/source/{2**31 - 1}").status_code == 404


@pytest.mark.parametrize("raw", ['{"name": "a\\ud800"}', '{"name": "a\\u0000b"}', '{"name": "\\udfff"}'])
def test_a_lone_surrogate_or_nul_in_a_name_is_422(client: TestClient, raw: str) -> None:
    response = client.post("/api/v1/group", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert client.get("/api/v1/group").json() == []


def test_long_strings_are_422(client: TestClient) -> None:
    long = "x" * 5000
    assert client.post("/api/v1/group", json={"name": "g", "model": long}).status_code == 422
    assert client.post("/api/v1/source", json={"uri_rtsp": f"rtsp://10.0.0.5/{long}"}).status_code == 422
    assert client.get("/api/v1/tag", params={"name": long}).status_code == 422
    assert client.get("/api/v1/tag", params={"name": "a\x00"}).status_code == 422
    assert client.get(f"/api/v1/record/{long}").status_code == 422


def test_a_null_body_is_an_empty_update(client: TestClient) -> None:
    created = client.post("/api/v1/source", json={"uri_rtsp": "rtsp://10.0.0.5/a"}).json()
    put = client.put(
        f"/api/v1/source/{created['id']}", content="null", headers={"Content-Type": "application/json"}
    )
    assert put.status_code == 200, put.text
    assert put.json()["uri_rtsp"] == "rtsp://10.0.0.5/a"


def test_openapi_documents_the_errors_routes_give(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    put = paths["/api/v1/source/{source_id}"]["put"]["responses"]
    assert {"401", "404", "409", "413", "422"} <= set(put)
    assert {"404", "502"} <= set(paths["/api/v1/source/{source_id}/picture"]["get"]["responses"])
