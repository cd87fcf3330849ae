"""Camera secrets are sealed at rest with VIDEOREC_SECRETS_KEY: a copy of the database holds no
camera password; plain rows from before are sealed at the next start, and a key is rotated by
starting with the new key and the old one among the old keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from controlplane.app import create_app
from controlplane.sealed import SealedSecretError, key_id
from shared.heartbeat import HEARTBEAT_PATH
from tests.conftest import make_settings
from videorec_testing.wait import wait_until

PASSWORD = "rtsp-pass-9f2c"
PICTURE_PASSWORD = "pic-pass-71aa"
CAMERAS = [
    {"uri_rtsp": f"rtsp://admin:{PASSWORD}@10.1.2.3/stream?pwd={PASSWORD}"},
    {
        "model": "PictureSource",
        "uri_http_picture": {"uri": "http://10.1.2.4/snap.jpg", "user": "u", "password": PICTURE_PASSWORD},
    },
]


def app(tmp_path: Path, database_url: str, **overrides: object) -> TestClient:
    settings = make_settings(tmp_path, database_url, **overrides)
    return TestClient(create_app(settings), base_url="http://127.0.0.1")


def stored(database_url: str) -> list[tuple[str | None, str | None, str | None]]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            query = text("SELECT uri_rtsp, picture_uri, picture_password FROM source ORDER BY id")
            return [tuple(row) for row in connection.execute(query)]  # type: ignore[misc]
    finally:
        engine.dispose()


def assigned(client: TestClient) -> str:
    """What the agent is given once every camera is placed on it (by the placement loop, a moment
    after its first beat): the secrets in the clear (it must dial the camera)."""

    def whole() -> str | None:
        answer = client.post(HEARTBEAT_PATH, json={"name": "a", "address": "127.0.0.1:50051"})
        assert answer.status_code == 200, answer.text
        return answer.text if len(answer.json()["sources"]) == len(CAMERAS) else None

    return wait_until(whole, 20, interval=0.2, what="every camera placed on agent a")


def test_camera_secrets_are_sealed_in_the_database(tmp_path: Path, database_url: str):
    with app(tmp_path, database_url, secrets_key="k1-" + "x" * 40) as client:
        for camera in CAMERAS:
            assert client.post("/api/v1/source", json=camera).status_code == 201
        listed = client.get("/api/v1/source").text
        assert PASSWORD not in listed and PICTURE_PASSWORD not in listed and "********" in listed
        answer = assigned(client)
        assert PASSWORD in answer and PICTURE_PASSWORD in answer
    rows = stored(database_url)
    assert all(value is None or value.startswith("sealed1:") for row in rows for value in row)
    assert PASSWORD not in repr(rows) and PICTURE_PASSWORD not in repr(rows)
    if database_url.startswith("sqlite"):
        db = Path(database_url.removeprefix("sqlite:///"))
        for path in db.parent.glob(db.name + "*"):  # the database, its WAL
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_plain_secrets_are_sealed_at_start_and_a_key_is_rotated(tmp_path: Path, database_url: str):
    old, new = "old-" + "y" * 40, "new-" + "z" * 40
    with app(tmp_path, database_url) as client:  # before any key: plain, as it always was
        for camera in CAMERAS:
            assert client.post("/api/v1/source", json=camera).status_code == 201
    assert PASSWORD in repr(stored(database_url))
    with app(tmp_path, database_url, secrets_key=old) as client:
        assert PASSWORD in assigned(client)
    assert all(
        v is None or v.startswith(f"sealed1:{key_id(old)}:") for row in stored(database_url) for v in row
    )
    with app(tmp_path, database_url, secrets_key=new, secrets_old_keys=[old]) as client:
        assert PICTURE_PASSWORD in assigned(client)
    assert all(
        v is None or v.startswith(f"sealed1:{key_id(new)}:") for row in stored(database_url) for v in row
    )
    with app(tmp_path, database_url, secrets_key=new) as client:  # the old key is no longer needed
        assert PASSWORD in assigned(client)


def test_sealed_secrets_without_their_key_stop_the_start(tmp_path: Path, database_url: str):
    with app(tmp_path, database_url, secrets_key="k1-" + "x" * 40) as client:
        assert client.post("/api/v1/source", json=CAMERAS[0]).status_code == 201
    for overrides in ({}, {"secrets_key": "another-" + "w" * 40}):
        with pytest.raises(SealedSecretError) as refused, app(tmp_path, database_url, **overrides):
            pass
        assert PASSWORD not in str(refused.value)
