"""The Groups section of SPEC.md, on SQLite and on PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient


def source(client: TestClient, n: int = 1) -> int:
    response = client.post("/api/v1/source", json={"model": "Source", "uri_rtsp": f"rtsp://10.0.0.{n}/s"})
    assert response.status_code == 201
    return response.json()["id"]


def group(client: TestClient, name: str) -> dict:
    response = client.post("/api/v1/group", json={"name": name, "model": "Group"})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_group_returns_an_object(client: TestClient) -> None:
    body = group(client, "North gate")
    assert set(body) == {"id", "created_utc", "name"}
    assert body["name"] == "North gate"
    assert client.get("/api/v1/group").json() == [body]


def test_duplicate_group_name_is_409_and_creates_nothing(client: TestClient) -> None:
    group(client, "North gate")
    response = client.post("/api/v1/group", json={"name": "North gate"})
    assert response.status_code == 409
    assert "North gate" in response.json()["detail"]
    assert len(client.get("/api/v1/group").json()) == 1


def test_blank_or_missing_name_is_422(client: TestClient) -> None:
    assert client.post("/api/v1/group", json={"name": "   "}).status_code == 422
    assert client.post("/api/v1/group", json={}).status_code == 422
    assert client.get("/api/v1/group").json() == []


def test_add_and_remove_sources_answer_true_then_false(client: TestClient) -> None:
    g = group(client, "Stadium")["id"]
    s1, s2 = source(client, 1), source(client, 2)
    assert client.post(f"/api/v1/group/{g}/source/{s1}/").json() is True
    assert client.post(f"/api/v1/group/{g}/source/{s1}").json() is False
    assert client.post(f"/api/v1/group/{g}/source/{s2}").json() is True
    body = client.get(f"/api/v1/group/{g}/").json()
    assert [s["id"] for s in body["sources"]] == [s1, s2]
    assert body["sources"][0]["uri_rtsp"] == "rtsp://10.0.0.1/s"
    assert client.delete(f"/api/v1/group/{g}/source/{s1}/").json() is True
    assert client.delete(f"/api/v1/group/{g}/source/{s1}").json() is False
    assert [s["id"] for s in client.get(f"/api/v1/group/{g}").json()["sources"]] == [s2]


def test_membership_of_unknown_group_or_source_is_404(client: TestClient) -> None:
    g = group(client, "A")["id"]
    s = source(client)
    assert client.post(f"/api/v1/group/999/source/{s}").json() == {"detail": "group 999 not found"}
    assert client.post(f"/api/v1/group/{g}/source/999").status_code == 404
    assert client.delete(f"/api/v1/group/{g}/source/999").status_code == 404
    assert client.get("/api/v1/group/999").status_code == 404
    assert client.delete("/api/v1/group/999").status_code == 404
    assert client.get("/api/v1/group/x").status_code == 422


def test_deleting_a_group_keeps_its_sources(client: TestClient) -> None:
    g = group(client, "Temporary")["id"]
    s = source(client)
    client.post(f"/api/v1/group/{g}/source/{s}")
    response = client.delete(f"/api/v1/group/{g}/")
    assert response.status_code == 200
    assert response.json()["name"] == "Temporary"
    assert client.get(f"/api/v1/group/{g}").status_code == 404
    assert client.get(f"/api/v1/source/{s}").status_code == 200
    # The name is free again.
    assert client.post("/api/v1/group", json={"name": "Temporary"}).status_code == 201


def test_deleting_a_source_removes_it_from_its_groups(client: TestClient) -> None:
    g = group(client, "G")["id"]
    s = source(client)
    client.post(f"/api/v1/group/{g}/source/{s}")
    assert client.delete(f"/api/v1/source/{s}").status_code == 200
    assert client.get(f"/api/v1/group/{g}").json()["sources"] == []
