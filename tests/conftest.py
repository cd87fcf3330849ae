"""Fixtures shared by the whole suite."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane import schema
from controlplane.app import create_app
from controlplane.db import make_engine, make_sessionmaker
from controlplane.settings import Settings
from videorec_testing.async_timeout import MARGIN_S, bounded
from videorec_testing.db import drop_all_tables, postgres_database


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """The one event loop of the suite (the agent and the control plane run on asyncio)."""
    return "asyncio"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every test that takes this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'videorec.db'}"
        return
    url = request.getfixturevalue("pg_url")
    try:
        yield url
    finally:
        drop_all_tables(url)


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    overrides.setdefault("migrate_on_start", True)  # PostgreSQL would otherwise wait for `migrate`
    return Settings(data_dir=tmp_path / "data", database_url=database_url, **overrides)  # type: ignore[arg-type]


def local_client(settings: Settings) -> Iterator[TestClient]:
    """The app on `settings` for a loopback client, for a fixture to `yield from`."""
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    # A local client: without an API token only loopback Host values are served.
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the `settings` database, migrated to head: for data-layer and loop tests that
    write rows themselves (an anyio test)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url())
    await schema.upgrade(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every async test ends through its event loop before pytest-timeout's signal would
    (videorec_testing.async_timeout says why)."""
    default = float(config.getini("timeout") or 0)
    for item in items:
        if not isinstance(item, pytest.Function) or not inspect.iscoroutinefunction(item.obj):
            continue
        marker = item.get_closest_marker("timeout")
        limit = float(marker.args[0]) if marker is not None and marker.args else default
        if limit > 2 * MARGIN_S:
            item.obj = bounded(item.obj, limit - MARGIN_S)
