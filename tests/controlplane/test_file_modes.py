"""The database holds camera passwords: only the service's user may read it, its WAL included."""

from __future__ import annotations

import stat
from pathlib import Path

from fastapi.testclient import TestClient

from controlplane.app import create_app
from controlplane.settings import Settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_database_and_its_folder_are_private(tmp_path: Path):
    data = tmp_path / "data"
    with TestClient(create_app(Settings(data_dir=data)), base_url="http://127.0.0.1") as client:
        created = client.post("/api/v1/source", json={"uri_rtsp": "rtsp://u:canary-pw@cam.example/s"})
        assert created.status_code == 201
        db = data / "videorec.db"
        assert _mode(data) == 0o700
        assert _mode(db) == 0o600
        assert (data / "videorec.db-wal").exists()  # written while the app runs
        assert _mode(data / "videorec.db-wal") == 0o600


def test_a_world_readable_database_from_before_is_made_private(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "videorec.db").touch(mode=0o644)
    (data / "videorec.db").chmod(0o644)
    with TestClient(create_app(Settings(data_dir=data)), base_url="http://127.0.0.1"):
        assert _mode(data / "videorec.db") == 0o600
        assert _mode(data) == 0o700
