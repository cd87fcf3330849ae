"""Schema migrations: a database with data from the baseline reaches head with nothing lost; an old
schema is refused on PostgreSQL; replicas upgrading at once wait for each other."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text

from controlplane import schema
from controlplane.app import create_app
from controlplane.db import make_engine
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

BASELINE_ROWS = [
    "INSERT INTO agent (name, created_utc, address, version, capacity, active_records, disk_free_bytes, "
    "disk_total_bytes) VALUES ('a1', '2026-01-01 00:00:00', '127.0.0.1:1', '0.1', 8, 0, 1000, 2000)",
    "INSERT INTO source (id, created_utc, model, status, uri_rtsp, description, agent_name, agent_pinned) "
    "VALUES (7, '2026-01-01 00:00:00', 'Source', 'unknown', 'rtsp://cam.example/1', 'door', 'a1', false)",
    "INSERT INTO \"group\" (id, created_utc, name) VALUES (3, '2026-01-01 00:00:00', 'hall')",
    "INSERT INTO groupsourcelink (group_id, source_id) VALUES (3, 7)",
    "INSERT INTO tag (id, created_utc, name) VALUES (5, '2026-01-01 00:00:00', 'old-tag')",
    "INSERT INTO record (id, created_utc, tag_id, source_id, status, agent_name, size_bytes, gaps, hash_md5) "
    "VALUES ('r-1', '2026-01-01 00:00:00', 5, 7, 'completed', 'a1', 1234, '[]', 'abc')",
]


async def _at_baseline(url: str, drop_version_table: bool = False) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(schema.config(c), schema.BASELINE))
            for sql in BASELINE_ROWS:
                await conn.execute(text(sql))
            if drop_version_table:  # as a database made by create_all before migrations existed
                await conn.execute(text("DROP TABLE alembic_version"))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("legacy", [False, True], ids=["baseline", "created-without-migrations"])
async def test_baseline_with_data_upgrades_to_head_and_keeps_it(
    tmp_path: Path, database_url: str, legacy: bool
):
    settings = make_settings(tmp_path, database_url)
    await _at_baseline(settings.resolved_database_url(), drop_version_table=legacy)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        tag = client.get("/api/v1/tag", params={"name": "old-tag"}).json()
        assert [(r["id"], r["status"], r["size_bytes"], r["hash_md5"]) for r in tag["records"]] == [
            ("r-1", "completed", 1234, "abc")
        ]
        assert client.get("/api/v1/group/3").json()["sources"][0]["description"] == "door"
        # A new column of a later revision works on the old rows: the tag can be started again.
        assert client.get("/api/v1/tag/begin", params={"name": "old-tag"}).status_code == 200
    assert await _current(settings.resolved_database_url()) == schema.head()


async def _current(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return await schema.current(engine)
    finally:
        await engine.dispose()


@pytest.mark.postgres
def test_replica_refuses_an_older_schema_on_postgres(tmp_path: Path, pg_url: str):
    settings = make_settings(tmp_path, pg_url, migrate_on_start=None)  # the default for PostgreSQL
    asyncio.run(_at_baseline(settings.resolved_database_url()))
    try:
        with (
            pytest.raises(schema.SchemaOutOfDateError, match="videorec-controlplane migrate"),
            TestClient(create_app(settings), base_url="http://127.0.0.1"),
        ):
            pass
        # The admin's step: the command upgrades, and then the replica serves.
        env = {"VIDEOREC_DATABASE_URL": pg_url, "PATH": "/usr/bin:/bin"}
        done = subprocess.run(
            [sys.executable, "-m", "controlplane", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert schema.head() in done.stdout
        with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
            assert client.get("/api/v1/source/7").json()["description"] == "door"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")


@pytest.mark.postgres
async def test_replicas_upgrading_at_once_wait_for_each_other(pg_url: str):
    engines = [make_engine(pg_url.replace("postgresql://", "postgresql+psycopg://")) for _ in range(4)]
    try:
        await asyncio.gather(*(schema.upgrade(engine) for engine in engines))
        assert await schema.current(engines[0]) == schema.head()
    finally:
        for engine in engines:
            await engine.dispose()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")


def test_models_and_migrations_agree():
    """What `make lint` runs: a model change without its revision fails here too."""
    done = subprocess.run(
        [sys.executable, "-m", "controlplane.schema", "check"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
