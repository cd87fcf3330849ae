"""Overload is a 503 with Retry-After, never a 500: a replica on PostgreSQL whose connection pool is
dry (here: its one connection waits on a lock another client holds) answers the next request 503
with Retry-After once db_pool_timeout_s has passed, and serves again when the database is free."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import psycopg
import pytest

from videorec_testing.db import postgres_database
from videorec_testing.processes import start_controlplane
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_a_dry_connection_pool_is_a_503_with_retry_after_and_then_service_again(tmp_path: Path) -> None:
    with postgres_database() as url:
        cp = start_controlplane(
            tmp_path,
            url,
            VIDEOREC_DB_POOL_SIZE="1",
            VIDEOREC_DB_MAX_OVERFLOW="0",
            VIDEOREC_DB_POOL_TIMEOUT_S="0.5",
        )
        try:
            with cp.client() as c:
                assert c.post("/api/v1/source", json={"uri_rtsp": "rtsp://cam.example/1"}).status_code == 201
            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as locker:
                locker.execute("LOCK TABLE source IN ACCESS EXCLUSIVE MODE")  # held until the block ends
                answers: dict[str, httpx.Response] = {}

                def held() -> None:  # takes the replica's only connection and waits on the lock
                    with cp.client(timeout=60) as c:
                        answers["held"] = c.get("/api/v1/source/1")

                waiter = threading.Thread(target=held)
                waiter.start()
                try:
                    with cp.client(timeout=30) as c:

                        def refused() -> httpx.Response | None:
                            answer = c.get("/api/v1/agent")
                            return answer if answer.status_code == 503 else None

                        shed = wait_until(refused, 30, interval=0.2, what="a 503 while the pool is dry")
                    assert shed.headers["Retry-After"] == "2"
                    assert "busy" in shed.json()["detail"]
                finally:
                    locker.rollback()  # the lock goes; the held request completes
                    waiter.join(60)
            # Served once the lock went, or shed too: with one connection the replica's own loops
            # (placement, liveness) compete for it. Never a 500.
            assert answers["held"].status_code in (200, 503), answers["held"].text
            with cp.client() as c:
                assert c.get("/api/v1/agent").status_code == 200
            assert "Traceback" not in cp.log()
        finally:
            cp.stop()
