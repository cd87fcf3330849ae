"""Sites and failover placement through the API and heartbeats, on SQLite and PostgreSQL: the agents
here are heartbeats only, as placement needs nothing more (recording through a failover is e2e).
No heartbeat places: the placement loop does, a moment later, so the tests wait for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controlplane.app import create_app
from shared.heartbeat import HEARTBEAT_PATH
from tests.conftest import make_settings
from videorec_testing.processes import wait_until

TOKEN = "failover-test-token"


def _api(tmp_path: Path, database_url: str, failover_after_s: float) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        database_url,
        agent_token=TOKEN,
        failover_after_s=failover_after_s,
        agent_offline_after_s=30.0,
        failover_stable_s=60.0,
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    yield from _api(tmp_path, database_url, failover_after_s=2.0)


@pytest.fixture
def calm_api(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    """No agent is declared down however slowly a loaded machine runs the test."""
    yield from _api(tmp_path, database_url, failover_after_s=600.0)


def beat(client: TestClient, name: str, site: str) -> set[int]:
    body = {"name": name, "address": f"127.0.0.1:{40000 + len(name)}", "site": site, "capacity": 4}
    response = client.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return {s["id"] for s in response.json()["sources"]}


def source(client: TestClient, **fields: object) -> int:
    response = client.post("/api/v1/source", json={"uri_rtsp": "rtsp://cam.example/1", **fields})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def agent_of(client: TestClient, source_id: int) -> str | None:
    return client.get(f"/api/v1/source/{source_id}").json()["agent"]


def placed(client: TestClient, *source_ids: int, beating: tuple[tuple[str, str], ...] = ()) -> dict[int, str]:
    """Wait for the loop to place `source_ids` (while agents `beating`, as (name, site), keep beating:
    placement waits for agents that just joined to settle); returns where each went."""

    def done() -> bool:
        for name, site in beating:
            beat(client, name, site)
        return all(agent_of(client, s) is not None for s in source_ids)

    wait_until(done, 20, interval=0.2, what=f"sources {source_ids} placed")
    return {s: agent_of(client, s) or "" for s in source_ids}


def test_sources_are_placed_only_on_agents_of_their_site(calm_api: TestClient):
    api = calm_api
    beat(api, "a1", "A")
    beat(api, "b1", "B")
    in_b = [source(api, site="B") for _ in range(3)]
    anywhere = [source(api) for _ in range(2)]
    where = placed(api, *in_b, *anywhere)  # by the loop: no heartbeat carried it
    assert all(where[s] == "b1" for s in in_b)
    assert {where[s] for s in anywhere} == {"a1"}  # the least loaded, whatever its site
    nowhere = source(api, site="C")
    beat(api, "a1", "A")
    assert agent_of(api, nowhere) is None  # waits for an agent of its site
    beat(api, "c1", "C")
    assert placed(api, nowhere) == {nowhere: "c1"}
    assert beat(api, "c1", "C") == {nowhere}
    assert api.get(f"/api/v1/source/{nowhere}").json()["site"] == "C"


def test_a_silent_agents_sources_move_within_its_site_once_and_stay(api: TestClient):
    beat(api, "a1", "A")
    moving = source(api, site="A")
    unsited = source(api)
    pinned = source(api, agent="a1")
    stays = source(api, site="A", failover=False)
    where = placed(api, moving, unsited, pinned, stays, beating=(("a1", "A"),))
    assert set(where.values()) == {"a1"}
    beat(api, "b1", "B")

    def moved() -> bool:
        beat(api, "a2", "A")
        beat(api, "b1", "B")
        return agent_of(api, moving) == "a2"

    wait_until(moved, 10, interval=0.2, what="the source moved to a2")
    assert agent_of(api, unsited) == "a2"  # no site of its own: its agent's site
    assert agent_of(api, pinned) == "a1" and agent_of(api, stays) == "a1"
    agents = {a["name"]: a for a in api.get("/api/v1/agent").json()}
    assert agents["a1"]["down_utc"] is not None and agents["a2"]["down_utc"] is None
    assert agents["a1"]["site"] == "A" and agents["b1"]["site"] == "B"

    # a1 returns: nothing moves back, and a new source of its site goes to a2 while a1 is not stable.
    beat(api, "a2", "A")  # a2 keeps beating, or it would be declared down in turn
    assert beat(api, "a1", "A") == {pinned, stays}
    fresh = source(api, site="A")
    assert placed(api, fresh, beating=(("a1", "A"), ("a2", "A"))) == {fresh: "a2"}
    assert agent_of(api, moving) == "a2"


def test_a_lone_agent_back_from_down_takes_new_sources_at_once(api: TestClient):
    """Anti-flapping chooses between agents; it never leaves a source with no agent while an online
    agent of its site exists (one agent restarted for an upgrade)."""
    beat(api, "a1", "A")
    beat(api, "b1", "B")

    def declared_down() -> bool:
        beat(api, "b1", "B")
        agents = {a["name"]: a for a in api.get("/api/v1/agent").json()}
        return agents["a1"]["down_utc"] is not None

    wait_until(declared_down, 10, interval=0.2, what="a1 declared down")
    beat(api, "a1", "A")  # back, and far from its 60 s stable period
    fresh = source(api, site="A")
    assert placed(api, fresh, beating=(("a1", "A"),)) == {fresh: "a1"}
    assert beat(api, "a1", "A") == {fresh}
    (record,) = _start(api, "after-restart", fresh)
    # Only heartbeats here, so the start reaches for a1's gRPC port and finds nobody: the point is
    # that it was sent to a1, not refused for want of an agent.
    assert record["agent"] == "a1" and "no online agent" not in (record["error"] or ""), record


@pytest.mark.parametrize("value", [0, 3, -1, "two", 1.5, None])
def test_redundancy_is_1_or_2_and_a_bad_value_changes_nothing(calm_api: TestClient, value: object):
    api = calm_api
    sid = source(api, site="A")
    assert api.get(f"/api/v1/source/{sid}").json()["redundancy"] == 1  # the default
    created = api.post("/api/v1/source", json={"uri_rtsp": "rtsp://cam.example/2", "redundancy": value})
    updated = api.put(f"/api/v1/source/{sid}", json={"redundancy": value})
    if value is None:  # left as it was, as with every optional field
        assert created.status_code == 201 and updated.status_code == 200
        assert updated.json()["redundancy"] == 1
        return
    for response in (created, updated):
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][-1] == "redundancy"
    assert len(api.get("/api/v1/source").json()) == 1
    assert api.get(f"/api/v1/source/{sid}").json()["redundancy"] == 1


def _start(api: TestClient, tag: str, *sources: int) -> list[dict]:
    group = api.post("/api/v1/group", json={"name": f"g-{tag}"}).json()
    for sid in sources:
        assert api.post(f"/api/v1/group/{group['id']}/source/{sid}").json() is True
    response = api.post("/api/v1/record", json={"tag_name": tag, "group_name": group["name"]})
    assert response.status_code == 200, response.text
    return api.get("/api/v1/record", params={"tag_name": tag}).json()


def test_a_dual_source_gets_two_records_on_two_agents_of_its_site(calm_api: TestClient):
    api = calm_api
    for name, site in (("a1", "A"), ("a2", "A"), ("b1", "B")):
        beat(api, name, site)
    dual = source(api, site="A", redundancy=2)
    single = source(api, site="A")
    # The agents here are heartbeats only: their records fail to start, but where each copy was
    # placed is what this test checks (recording twice is tests/e2e/test_dual_recording.py).
    rows = _start(api, "dual", dual, single)
    by_source: dict[int, list[dict]] = {}
    for row in rows:
        by_source.setdefault(row["source"]["id"], []).append(row)
    assert len(rows) == 3 and len({r["id"] for r in rows}) == 3
    assert len(by_source[single]) == 1
    assert sorted(r["agent"] for r in by_source[dual]) == ["a1", "a2"]  # never the same agent twice
    shown = api.get(f"/api/v1/source/{dual}").json()
    assert shown["redundancy"] == 2 and {shown["agent"], shown["second_agent"]} == {"a1", "a2"}
    # Pinning it to its second agent leaves it one agent until the next start places a second again.
    assert api.put("/api/v1/record", json={"tag_name": "dual"}).status_code in (200, 202)
    pinned = api.put(f"/api/v1/source/{dual}", json={"agent": shown["second_agent"]}).json()
    assert (pinned["agent"], pinned["second_agent"]) == (shown["second_agent"], None)


def test_a_dual_source_with_one_agent_in_its_site_says_why_its_second_copy_failed(calm_api: TestClient):
    api = calm_api
    beat(api, "a1", "A")
    beat(api, "b1", "B")
    dual = source(api, site="A", redundancy=2)
    rows = _start(api, "lonely", dual)
    assert len(rows) == 2
    second = [r for r in rows if r["agent"] is None]
    assert len(second) == 1 and second[0]["status"] == "failed"
    assert "no second online agent of site A" in second[0]["error"]
    assert api.get(f"/api/v1/source/{dual}").json()["second_agent"] is None  # never b1
