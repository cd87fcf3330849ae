"""A heartbeat with nothing new costs the control plane no statement of its own, on SQLite and
PostgreSQL: it is answered from memory, and its liveness is written with every other quiet beat of
the last half second in one statement, the only write. Whatever the agent holds, no source is read."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from shared.heartbeat import HEARTBEAT_PATH
from tests.conftest import local_client, make_settings
from videorec_testing.placement import wait_placed
from videorec_testing.wait import wait_until

TOKEN = "quiet-test-token"


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    yield from local_client(make_settings(tmp_path, database_url, agent_token=TOKEN, failover_after_s=600.0))


def beat(api: TestClient, assignment: str | None = None) -> dict:
    body = {"name": "a1", "address": "127.0.0.1:40001", "capacity": 8, "assignment": assignment}
    body["disk_free_bytes"] = 10**9
    response = api.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return response.json()


class Statements:
    """Every statement any engine of this process runs while it listens."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []
        self._lock = threading.Lock()

    def __call__(self, _conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, many: bool) -> None:
        with self._lock:
            self.seen.append((" ".join(statement.split()), many))

    def writes(self) -> list[tuple[str, bool]]:
        return [(s, m) for s, m in self.seen if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def _last_seen(api: TestClient) -> datetime:
    (agent,) = api.get("/api/v1/agent").json()
    return datetime.fromisoformat(agent["last_seen_utc"])


@pytest.mark.parametrize("sources", [5, 50])
def test_a_beat_with_nothing_new_writes_only_its_liveness_in_bulk(api: TestClient, sources: int) -> None:
    ids = [
        api.post("/api/v1/source", json={"uri_rtsp": f"rtsp://cam.example/{n}"}).json()["id"]
        for n in range(sources)
    ]
    wait_placed(api, ids[-1], lambda: beat(api))
    wait_until(lambda: all(api.get(f"/api/v1/source/{i}").json()["agent"] for i in ids), 20, interval=0.2)
    held = beat(api)["assignment"]
    quiet = api.app_state["ctx"].quiet
    # Quiet once this replica's flush has read the assignment the agent holds (within half a second).
    wait_until(lambda: beat(api, held)["sources"] is None and quiet.answered, 10, interval=0.1, what="quiet")
    before = _last_seen(api)
    answered = quiet.answered
    liveness = "UPDATE agent SET active_records="
    statements = Statements()
    event.listen(Engine, "before_cursor_execute", statements)
    try:
        for _ in range(20):
            answer = beat(api, held)
            assert answer["sources"] is None and answer["protected_tags"] is None
        # Liveness written by a flush that started after these beats (one in flight when the count
        # began would move last_seen with no statement counted), committed a moment later.
        wait_until(
            lambda: any(s.startswith(liveness) for s, _ in statements.writes()) and _last_seen(api) > before,
            5,
            interval=0.1,
            what="the liveness flush",
        )
    finally:
        event.remove(Engine, "before_cursor_execute", statements)

    assert quiet.answered - answered == 20  # all of them from memory, none by the full exchange
    # The journal sync's own loop may claim this agent meanwhile: its table is not the heartbeat's.
    writes = [(s, m) for s, m in statements.writes() if "journal_sync" not in s]
    # The one write: every quiet beat noted since the last flush, in one conditional UPDATE.
    assert writes and all(s.startswith(liveness) and "last_seen_utc <" in s for s, _ in writes), writes
    assert len(writes) <= 3  # one per flush (every half second), not one per beat
    # No source was read for these beats, whatever the agent holds (the loop's "anything unplaced?"
    # aside, which reads no row of it).
    assert not [s for s, _ in statements.seen if "FROM source WHERE source.agent_name = " in s]
