"""/healthz, /readyz and /metrics of the control plane, in-process and as a real process whose
database goes away."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import psycopg
from fastapi.testclient import TestClient

from videorec_testing.db import ADMIN_URL, postgres_database
from videorec_testing.metrics import sample
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until


def test_health_and_readiness_on_a_working_database(client: TestClient):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_metrics_count_requests_by_route_template_and_report_records(client: TestClient):
    client.post("/api/v1/source", json={"uri_rtsp": "rtsp://cam.example/s", "description": "m"})
    for _ in range(3):
        assert client.get("/api/v1/source/999999").status_code == 404
    text = client.get("/metrics").text
    assert sample(text, "videorec_http_requests_total", route="/api/v1/source/{source_id}", status="404") == 3
    assert sample(text, "videorec_http_requests_total", route="/api/v1/source", status="201") == 1
    assert sample(text, "videorec_records", status="recording") == 0
    assert sample(text, "videorec_agents_online") == 0
    # Ids never become labels (a sample's value, a _created timestamp, may hold the digits by chance).
    assert not re.search(r'="[^"]*999999', text)


def test_readyz_follows_the_database_going_away_and_coming_back(tmp_path: Path):
    with postgres_database() as url, start_stack(tmp_path, agents=0, database_url=url) as stack:
        cp = stack.cp
        name = url.rsplit("/", 1)[1]
        assert httpx.get(cp.url + "/readyz").status_code == 200
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            # The database refuses new connections and drops the open ones: as if it were stopped.
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            try:
                unready = wait_until(
                    lambda: (r := httpx.get(cp.url + "/readyz", timeout=10)).status_code == 503 and r,
                    30,
                    what="unready",
                )
                assert "database" in unready.json()["checks"]
                assert url not in unready.text and "127.0.0.1" not in unready.text
                assert httpx.get(cp.url + "/healthz").status_code == 200  # alive, just not ready
            finally:
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        wait_until(lambda: httpx.get(cp.url + "/readyz", timeout=10).status_code == 200, 30, what="ready")
