"""POST /api/v1/source/batch adds many cameras at once, all or none, on SQLite and PostgreSQL: each
item is checked as a single add checks it, one refused item is a 422 naming its index and adds
nothing, and the credentials are sealed at rest like a single add's."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from controlplane.services.sources import MAX_BATCH
from tests.conftest import local_client, make_settings

BATCH = "/api/v1/source/batch"
PASSWORD = "batch-pass-4e1d"


def _count(client: TestClient) -> int:
    return len(client.get("/api/v1/source").json())


def _stored(database_url: str) -> list[str]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT uri_rtsp FROM source ORDER BY id"))]
    finally:
        engine.dispose()


def test_a_valid_batch_is_added_in_order_with_its_secrets_sealed(tmp_path: Path, database_url: str):
    settings = make_settings(tmp_path, database_url, secrets_key="batch-" + "k" * 40)
    items = [
        {"uri_rtsp": f"rtsp://admin:{PASSWORD}@10.0.0.{n}/stream", "description": f"gate {n}"}
        for n in range(3)
    ]
    items.append(
        {
            "model": "PictureSource",
            "uri_http_picture": {"uri": "http://10.0.0.9/snap.jpg", "user": "u", "password": PASSWORD},
            "site": "north",
        }
    )
    for client in local_client(settings):
        answer = client.post(BATCH, json=items)
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert [s["description"] for s in created] == ["gate 0", "gate 1", "gate 2", ""]
        assert len({s["id"] for s in created}) == 4 and created[3]["site"] == "north"
        assert PASSWORD not in answer.text and "********" in answer.text
        listed = client.get("/api/v1/source").json()
        assert [s["id"] for s in listed] == [s["id"] for s in created]
        assert client.get(f"/api/v1/source/{created[0]['id']}").json() == listed[0]
    stored = _stored(database_url)
    assert all(value is None or value.startswith("sealed1:") for value in stored)
    assert PASSWORD not in repr(stored)


def test_one_invalid_item_is_a_422_naming_it_and_adds_nothing(client: TestClient):
    good = {"uri_rtsp": "rtsp://10.0.0.1/stream"}
    cases = [
        ({"description": "no stream"}, None),  # a Source needs uri_rtsp
        ({"uri_rtsp": "http://10.0.0.2/not-rtsp"}, "uri_rtsp"),
        ({"uri_rtsp": "rtsp://10.0.0.3/s", "colour": "red"}, "colour"),  # unknown field
        ({"uri_rtsp": "rtsp://127.0.0.1/s"}, "uri_rtsp"),  # loopback: the camera network policy
        ({"uri_rtsp": "rtsp://10.0.0.4/s", "description": "nul\x00"}, "description"),
        ({"uri_rtsp": "rtsp://admin:********@10.0.0.5/s"}, "uri_rtsp"),  # a mask with nothing behind it
    ]
    for bad, field in cases:
        answer = client.post(BATCH, json=[good, good, bad, good])
        assert answer.status_code == 422, (bad, answer.text)
        (error,) = answer.json()["detail"]
        assert error["loc"][:2] == ["body", 2], error
        if field is not None:
            assert error["loc"][-1] == field, error
    assert _count(client) == 0  # all or none


def test_an_empty_or_oversized_batch_is_a_422(client: TestClient):
    for items in ([], [{"uri_rtsp": f"rtsp://10.1.{n // 256}.{n % 256}/s"} for n in range(MAX_BATCH + 1)]):
        answer = client.post(BATCH, json=items)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body"]
    answer = client.post(BATCH, json={"uri_rtsp": "rtsp://10.0.0.1/s"})  # one object, not a list
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body"]
    assert _count(client) == 0


def test_duplicate_descriptions_and_cameras_are_added_as_single_adds_add_them(client: TestClient):
    """Sources have no unique name (SPEC.md: groups do): a batch takes what single adds take."""
    same = {"uri_rtsp": "rtsp://10.0.0.1/s", "description": "lobby"}
    answer = client.post(BATCH, json=[same, same])
    assert answer.status_code == 201, answer.text
    assert client.post("/api/v1/source", json=same).status_code == 201
    assert [s["description"] for s in client.get("/api/v1/source").json()] == ["lobby"] * 3
