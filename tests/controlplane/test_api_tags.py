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


def test_tags_are_listed_newest_first_with_their_state(client: TestClient) -> None:
    source = client.post("/api/v1/source", json={"uri_rtsp": "rtsp://cam.example/1"}).json()
    group = client.post("/api/v1/group", json={"name": "hall"}).json()
    client.post(f"/api/v1/group/{group['id']}/source/{source['id']}")
    for tag in ("first", "second"):  # no agent: the records fail, the tags exist
        assert client.post("/api/v1/record", json={"tag_name": tag, "group_name": "hall"}).status_code == 200
    assert client.put("/api/v1/tag", params={"name": "first"}, json={"protected": True}).status_code == 200
    listed = client.get("/api/v1/tags").json()
    assert [(t["name"], t["protected"], t["recording"]) for t in listed] == [
        ("second", False, False),
        ("first", True, False),
    ]
    assert [t["name"] for t in client.get("/api/v1/tags", params={"limit": 1}).json()] == ["second"]
    assert client.get("/api/v1/tags", params={"limit": 0}).status_code == 422
