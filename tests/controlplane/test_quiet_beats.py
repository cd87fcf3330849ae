"""A heartbeat with nothing new costs the control plane no statement of its own, on SQLite and
PostgreSQL: it is answered from memory, and its liveness is written with every other quiet beat of
the last half second in one statement, the only write. Whatever the agent holds, no source is read."""

from __future__ import annotations

import threading
import time
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


OFFLINE_S = 2.5  # counts as offline sooner than by default: the silences below stay short
BLOCK_S = 3.5  # longer than OFFLINE_S and than a read counts as fresh (quiet_beats.STALE_S)


@pytest.fixture
def short(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path, database_url, agent_token=TOKEN, failover_after_s=600.0, agent_offline_after_s=OFFLINE_S
    )
    yield from local_client(settings)


def _quiet_agent(api: TestClient) -> str:
    """Agent a1 beating quietly, its last quiet beat written: the assignment it holds."""
    held = beat(api)["assignment"]
    quiet = api.app_state["ctx"].quiet
    wait_until(lambda: beat(api, held)["sources"] is None and quiet.answered, 10, interval=0.1, what="quiet")
    before = _last_seen(api)
    beat(api, held)
    wait_until(lambda: _last_seen(api) > before, 5, interval=0.05, what="the liveness flush")
    return held


def _full_beats(api: TestClient) -> float:
    return sum(
        float(line.split()[-1])
        for line in api.get("/metrics").text.splitlines()
        if line.startswith("videorec_heartbeats_full_total{")
    )


def test_a_replica_late_itself_keeps_its_agents_quiet(short: TestClient) -> None:
    """The replica's own loop busy for longer than an agent may be silent (as with more work than
    CPU): the beat that waited through it is still answered quietly, and its agent is not forgotten
    for a silence the replica made (its beats would all become full ones, which a late replica can
    least afford); its liveness is written."""
    api = short
    held = _quiet_agent(api)
    quiet = api.app_state["ctx"].quiet
    answered, full, before = quiet.answered, _full_beats(api), _last_seen(api)
    blocked = threading.Event()

    def block() -> None:
        blocked.set()
        time.sleep(BLOCK_S)  # in the loop's thread: nothing else runs meanwhile

    portal = api.portal
    assert portal is not None  # the client runs the app (a `with` block)
    thread = threading.Thread(target=portal.call, args=(block,), daemon=True)
    thread.start()
    assert blocked.wait(10)
    # Sent while the loop is busy: it waits through the stall, and so does the flush (its last
    # read of the database is then older than a quiet answer may trust, by the replica's fault).
    assert beat(api, held)["sources"] is None
    thread.join()
    wait_until(lambda: _last_seen(api) > before, 5, interval=0.05, what="its liveness written")
    assert beat(api, held)["sources"] is None  # still known: quiet, not a full beat
    assert (quiet.answered - answered, _full_beats(api) - full) == (2, 0)


def test_an_agent_silent_itself_takes_the_full_exchange_again(short: TestClient) -> None:
    """The same silence on the agent's side (the replica kept time): it is forgotten, and its next
    beat after the flush is a full one, which revives it."""
    api = short
    held = _quiet_agent(api)
    quiet = api.app_state["ctx"].quiet
    time.sleep(BLOCK_S + OFFLINE_S)  # the agent's silence itself (with room for a loaded box's lateness)
    answered = quiet.answered
    assert beat(api, held)["sources"] is None  # answered from memory; judged by the flush
    wait_until(lambda: not quiet.knows("a1"), 5, interval=0.05, what="forgotten")
    full = _full_beats(api)
    beat(api, held)
    assert (quiet.answered - answered, _full_beats(api) - full) == (1, 1)
