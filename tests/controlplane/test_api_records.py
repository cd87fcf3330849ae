"""The Recording section's rules that need no agent: validation, 404, 422 and 409."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, create_engine

from controlplane.models import Record, Tag


def test_start_for_unknown_group_is_404(client: TestClient) -> None:
    response = client.post("/api/v1/record", json={"tag_name": "t1", "group_name": "nope"})
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


def test_start_needs_tag_and_group(client: TestClient) -> None:
    response = client.post("/api/v1/record", json={"tag_name": "t1"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "group_name"]
    assert client.post("/api/v1/record", json={"tag_name": "", "group_name": "g"}).status_code == 422
    assert (
        client.post("/api/v1/record", json={"tag_name": "t", "group_name": "g", "model": "X"}).status_code
        == 422
    )


def test_start_for_a_group_without_matching_sources_is_422_and_creates_no_tag(client: TestClient) -> None:
    client.post("/api/v1/group", json={"name": "empty"})
    response = client.post("/api/v1/record", json={"tag_name": "t1", "group_name": "empty"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "group_name"]
    group = client.post("/api/v1/group", json={"name": "rtsp-only"}).json()
    source = client.post("/api/v1/source", json={"model": "Source", "uri_rtsp": "rtsp://10.0.0.1/s"}).json()
    client.post(f"/api/v1/group/{group['id']}/source/{source['id']}")
    response = client.post(
        "/api/v1/record", json={"tag_name": "t1", "group_name": "rtsp-only", "model": "PictureSource"}
    )
    assert response.status_code == 422
    assert client.get("/api/v1/tag", params={"name": "t1"}).status_code == 404


def test_start_without_any_agent_gives_failed_records_with_the_reason(client: TestClient) -> None:
    group = client.post("/api/v1/group", json={"name": "g"}).json()
    source = client.post("/api/v1/source", json={"model": "Source", "uri_rtsp": "rtsp://10.0.0.1/s"}).json()
    client.post(f"/api/v1/group/{group['id']}/source/{source['id']}")
    assert client.post("/api/v1/record", json={"tag_name": "t1", "group_name": "g"}).status_code == 200
    (record,) = client.get("/api/v1/record", params={"tag_name": "t1"}).json()
    assert record["status"] == "failed"
    assert "no online agent" in record["error"]
    assert record["source"]["id"] == source["id"]
    assert client.get("/api/v1/record/runing", params={"tag_name": "t1"}).json() is False
    assert client.get(f"/api/v1/record/{record['id']}/").json()["id"] == record["id"]


def test_unknown_record_and_tag(client: TestClient) -> None:
    assert client.get("/api/v1/record/nope").status_code == 404
    assert client.get("/api/v1/record", params={"tag_name": "nope"}).status_code == 404
    assert client.get("/api/v1/record/running", params={"tag_name": "nope"}).json() is False
    assert client.put("/api/v1/record", json={"tag_name": "nope"}).status_code == 404
    assert client.get("/api/v1/record/runing").status_code == 422


def test_delete_file_at_a_foreign_location_is_422(client: TestClient) -> None:
    group = client.post("/api/v1/group", json={"name": "g"}).json()
    source = client.post("/api/v1/source", json={"model": "Source", "uri_rtsp": "rtsp://10.0.0.1/s"}).json()
    client.post(f"/api/v1/group/{group['id']}/source/{source['id']}")
    client.post("/api/v1/record", json={"tag_name": "t1", "group_name": "g"})
    (record,) = client.get("/api/v1/record", params={"tag_name": "t1"}).json()
    for location in ("/etc/passwd", "../x", "agent-1:/var/lib/other.mp4"):
        response = client.delete(f"/api/v1/record/{record['id']}/file/", params={"location": location})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "location"]


def _recording_record(database_url: str, tag_name: str) -> None:
    """A record of `tag_name` that is recording, as a start on an agent leaves it."""
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with Session(engine) as session:
            tag = Tag(name=tag_name)
            session.add(tag)
            session.flush()
            begin = datetime(2026, 1, 1, tzinfo=UTC)
            session.add(
                Record(tag_id=tag.id, status="recording", agent_name="a", location="x", begin_utc=begin)
            )
            session.commit()
    finally:
        engine.dispose()


@pytest.mark.parametrize("path", ["/api/v1/record/runing", "/api/v1/record/running"])
def test_running_and_the_seeds_runing_give_the_same_answer(
    client: TestClient, database_url: str, path: str
) -> None:
    _recording_record(database_url, "live")
    assert client.get(path, params={"tag_name": "live"}).json() is True
    assert client.get(f"{path}/", params={"tag_name": "live"}).json() is True
    assert client.get(path, params={"tag_name": "nope"}).json() is False
    assert client.get(path).status_code == 422
    assert client.get(path, params={"tag_name": ""}).status_code == 422
    # Both are described, with the same parameter and answer.
    operation = client.get("/openapi.json").json()["paths"][path]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["tag_name"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "boolean"
