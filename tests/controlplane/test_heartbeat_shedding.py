"""Overload is a 503 with Retry-After, never a 500, and never a failover, on SQLite and PostgreSQL.

The shedding condition is driven for real: the app's own event loop is blocked (as by more work than
CPU), so a heartbeat that arrives meanwhile waits before it is handled; the replica then refuses
beats that need the database until its queue drains, and notes itself late. A replica that shed
writes so to the database, and another, healthy, replica then declares none of the silent agents
down either (their beats may be waiting on the late one)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.loop_lag import LoopLag
from controlplane.placement import loop as placement_loop
from controlplane.services.recording import launch
from controlplane.settings import Settings
from shared.heartbeat import HEARTBEAT_PATH
from tests.conftest import local_client, make_settings
from tests.controlplane.test_failover_hold import _agents, _ctx, _down, _held
from videorec_testing.wait import wait_until

TOKEN = "shed-test-token"
BLOCK_S = 1.5


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    yield from local_client(make_settings(tmp_path, database_url, agent_token=TOKEN))


def _beat(api: TestClient, name: str) -> object:
    body = {"name": name, "address": "127.0.0.1:40001", "capacity": 8}
    return api.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {TOKEN}"})


def _block_loop(api: TestClient) -> threading.Thread:
    """Block the app's event loop for BLOCK_S from another thread; returns once it is blocked."""
    blocked = threading.Event()

    def block() -> None:
        blocked.set()
        time.sleep(BLOCK_S)  # in the loop's thread: nothing else runs meanwhile

    thread = threading.Thread(target=api.portal.call, args=(block,), daemon=True)  # type: ignore[attr-defined]
    thread.start()
    assert blocked.wait(10)
    return thread


def _shed_count(api: TestClient) -> float:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith("videorec_heartbeats_shed_total "):
            return float(line.split()[-1])
    return 0.0


def test_a_beat_that_waited_in_a_late_replica_is_refused_503_with_retry_after(api: TestClient) -> None:
    # A healthy replica answers (on a loaded machine, once its start has settled).
    wait_until(lambda: _beat(api, "a1").status_code == 200, 10, interval=0.2, what="served")  # type: ignore[attr-defined]
    blocker = _block_loop(api)
    refused = _beat(api, "a2")  # waits for the blocked loop, then finds it BLOCK_S late
    blocker.join(10)
    assert refused.status_code == 503, refused.text  # type: ignore[attr-defined]
    assert refused.headers["Retry-After"] == "2"  # type: ignore[attr-defined] - overload_retry_after_s
    assert _shed_count(api) >= 1
    # Once the queue has drained (the last second's ticks kept time) beats are served again.
    wait_until(lambda: _beat(api, "a2").status_code == 200, 10, interval=0.2, what="served again")  # type: ignore[attr-defined]
    agents = {a["name"]: a for a in api.get("/api/v1/agent").json()}
    assert agents["a1"]["down_utc"] is None and agents["a2"]["down_utc"] is None


@pytest.mark.anyio
async def test_a_replica_that_shed_holds_failover_on_every_replica(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _agents(sessions, beating=5, silent=1)
    late, healthy = _ctx(settings, sessions), _ctx(settings, sessions)
    late.lag.shed()  # as the heartbeat route notes a beat it refused
    # The late replica's own check holds (and writes its lateness for the others)...
    assert await placement_loop.check_once(late, launch) == 0
    assert _held(late, "late") == 1
    # ...and a healthy replica on the same database holds too: the silent agent may be beating to
    # the late one, its beats waiting in that replica's queue.
    assert await placement_loop.check_once(healthy, launch) == 0
    assert await _down(sessions) == set() and _held(healthy, "late") == 1


@pytest.mark.anyio
async def test_a_healthy_fleet_writes_no_lateness_and_fails_a_dead_agent_over(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _agents(sessions, beating=5, silent=1)
    assert await placement_loop.check_once(_ctx(settings, sessions), launch) == 1
    assert await _down(sessions) == {"a5"}


def test_a_standing_wait_for_the_database_counts_as_queueing_and_one_slow_beat_does_not() -> None:
    lag = LoopLag()
    now = time.monotonic()
    lag.tick(0.0, now)  # the loop keeps time
    lag.served(2.0, now)  # one slow beat (a long journal page): a burst, not a queue
    assert lag.queue_s(now) < 0.5
    for took in (0.9, 1.2, 0.8):  # every beat of the last second waited: a standing queue
        lag.served(took, now)
    assert lag.queue_s(now) == pytest.approx(0.8)
    lag.tick(0.0, now + 2.0)
    assert lag.queue_s(now + 2.0) < 0.5  # forgotten after the window


def test_a_replica_just_started_serves_the_beats_that_waited_through_its_start() -> None:
    """The first beat after a start on a loaded machine was shed (503): the tick had not run yet, so
    the time since the LoopLag was made (the migrations, placement's first pass) counted as a queue."""
    lag = LoopLag()
    now = time.monotonic() + 2.0  # the start took 2 s, the tick has not run yet
    assert lag.queue_s(now) == 0.0
    lag._woke = lag._ticking_since = now  # as run() does when it starts
    lag.tick(0.8, now + 0.9)  # the start's stall, seen by the first tick
    assert lag.queue_s(now + 0.9) == 0.0
    lag.tick(0.8, now + 1.8)  # still late a whole window after: a standing queue
    assert lag.queue_s(now + 1.8) == pytest.approx(0.8)


def test_one_stall_of_the_loop_is_no_queue_and_a_late_window_is() -> None:
    """A single late tick (a collection, a moment without CPU) shed every beat for a second: a lone
    agent's next beat got 503 on a loaded machine although nothing stood in the queue."""
    lag = LoopLag()
    now = time.monotonic()
    lag._woke = lag._ticking_since = now - 5.0  # ticking for long
    lag.tick(0.0, now)
    lag.tick(0.7, now + 0.8)  # one stall of 0.7 s among ticks that kept time
    assert lag.queue_s(now + 0.85) < 0.5
    lag.tick(0.7, now + 1.6)
    lag.tick(0.7, now + 2.4)  # every tick of the last second late: a standing queue
    assert lag.queue_s(now + 2.45) == pytest.approx(0.7)
    assert lag.queue_s(now + 4.0) == pytest.approx(4.0 - 2.4 - lag.tick_s)  # stalled since: overdue
