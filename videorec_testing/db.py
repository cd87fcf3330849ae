"""Databases for tests: a SQLite file per test, or a PostgreSQL database of this run's own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

ADMIN_URL = os.environ.get("VIDEOREC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a database for this run and drop it afterwards; skip (outside CI only) without a server."""
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if _in_ci():
            raise
        pytest.skip(f"PostgreSQL not reachable at {ADMIN_URL} ({exc}); set VIDEOREC_TEST_PG_URL")
    name = f"videorec_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_all_tables(url: str) -> None:
    """Leave the run's database empty for the next test."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
