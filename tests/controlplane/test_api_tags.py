"""The Tags section of SPEC.md before any recording exists."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_unknown_tag_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/tag", params={"name": "match-1"})
    assert response.status_code == 404
    assert response.json() == {"detail": "tag 'match-1' not found"}


def test_tag_name_is_required(client: TestClient) -> None:
    response = client.get("/api/v1/tag/")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "name"]


def test_no_tag_is_recording_on_a_new_service(client: TestClient) -> None:
    assert client.get("/api/v1/tag/begin").json() == []
    assert client.get("/api/v1/tag/begin/").json() == []
