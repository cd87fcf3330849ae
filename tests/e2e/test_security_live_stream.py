"""Two control-plane processes on one PostgreSQL, as a load balancer spreads a browser's calls: a live
ticket issued by one replica opens the WebSocket at the other, and then nowhere again (a spent ticket
kept in one process would let it in once more at every other replica); a removed user's key stops
at once at both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from videorec_testing.accounts import bearer, cli_user_add
from videorec_testing.db import postgres_database
from videorec_testing.processes import ControlPlane, start_controlplane

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
TOKEN = "bootstrap-t0ken-two-replicas"


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[ControlPlane, ControlPlane, str]]:
    with postgres_database() as url:
        a = start_controlplane(tmp_path / "a", url, VIDEOREC_API_TOKEN=TOKEN)
        try:
            b = start_controlplane(tmp_path / "b", url, VIDEOREC_API_TOKEN=TOKEN)
            try:
                yield a, b, url
            finally:
                b.stop()
        finally:
            a.stop()


def _ws(cp: ControlPlane, ticket: str) -> str:
    return cp.url.replace("http://", "ws://") + f"/api/v1/live/ws?ticket={ticket}"


def _opens(cp: ControlPlane, ticket: str) -> bool:
    try:
        with connect(_ws(cp, ticket), open_timeout=10) as ws:
            ws.send(json.dumps({"open": 1, "source": 999_999}))
            while True:
                status = json.loads(ws.recv(timeout=10))
                if status.get("state") == "offline":
                    assert status["code"] == 404
                    return True
    except InvalidStatus:
        return False


def test_a_ticket_works_at_any_replica_once(replicas: tuple[ControlPlane, ControlPlane, str]) -> None:
    a, b, _ = replicas
    with a.client() as c:
        ticket = c.post("/api/v1/live/ticket").json()["ticket"]
    assert _opens(b, ticket)
    assert not _opens(a, ticket)
    assert not _opens(b, ticket)
    with b.client() as c:
        ticket = c.post("/api/v1/live/ticket").json()["ticket"]
    assert _opens(a, ticket)
    assert not _opens(b, ticket)
    for cp in (a, b):
        log = cp.log_path.read_text(errors="replace")
        assert TOKEN not in log and ticket not in log


def test_a_removed_user_is_refused_at_every_replica_at_once(
    replicas: tuple[ControlPlane, ControlPlane, str], tmp_path: Path
) -> None:
    a, b, url = replicas
    key = cli_user_add(tmp_path / "cli", "carol", "operator", url)
    for cp in (a, b):
        assert httpx.get(cp.url + "/api/v1/me", headers=bearer(key), timeout=10).json()["name"] == "carol"
    subprocess.run(
        [sys.executable, "-m", "controlplane", "user", "remove", "carol"],
        env={**os.environ, "VIDEOREC_DATA_DIR": str(tmp_path / "cli"), "VIDEOREC_DATABASE_URL": url},
        capture_output=True,
        timeout=120,
        check=True,
    )
    for cp in (a, b):
        assert httpx.get(cp.url + "/api/v1/me", headers=bearer(key), timeout=10).status_code == 401
