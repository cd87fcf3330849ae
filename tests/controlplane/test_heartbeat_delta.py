"""Heartbeats say only what changed, on SQLite and PostgreSQL: an agent that holds the current
assignment is answered no sources and no credentials; a new source, a camera URL changed, a tag
protected, each changes the assignment and the next beat carries the whole list again; a probe is
applied either way and does not change the assignment; an agent of the previous release (no
assignment sent) gets every source on every beat."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared.heartbeat import HEARTBEAT_PATH
from tests.conftest import local_client, make_settings
from videorec_testing.wait import wait_until

TOKEN = "delta-test-token"


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    yield from local_client(make_settings(tmp_path, database_url, agent_token=TOKEN, failover_after_s=600.0))


def beat(api: TestClient, assignment: str | None = None, probes: list[dict] | None = None) -> dict:
    body = {"name": "a1", "address": "127.0.0.1:40001", "capacity": 8, "assignment": assignment}
    body["probes"] = probes or []
    response = api.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return response.json()


def placed(api: TestClient, source_id: int) -> None:
    """Wait for the placement loop (no heartbeat places) to give the source to a1, beating meanwhile."""

    def done() -> bool:
        beat(api)
        return api.get(f"/api/v1/source/{source_id}").json()["agent"] == "a1"

    wait_until(done, 20, interval=0.2, what=f"source {source_id} placed on a1")


def news(api: TestClient, held: str) -> dict:
    """The first answer to an agent holding `held` that carries sources: within a beat or so, as a
    replica answers a quiet beat from what it read up to half a second ago."""
    return wait_until(lambda: (a := beat(api, held))["sources"] is not None and a, 10, interval=0.2)


def settle(api: TestClient, answer: dict) -> tuple[str, list[dict]]:
    """Beat with what the last answer said until the answer is quiet (a change committed while a beat
    was answered makes one more whole answer come first)."""
    sources = answer["sources"]
    for _ in range(3):
        answer = beat(api, answer["assignment"])
        if answer["sources"] is None:
            return answer["assignment"], sources
        sources = answer["sources"]
    raise AssertionError(f"never quiet: {answer}")


def test_an_agent_holding_the_assignment_is_told_nothing_until_something_changes(api: TestClient) -> None:
    first = api.post("/api/v1/source", json={"uri_rtsp": "rtsp://admin:pw1@cam.example/1"}).json()
    placed(api, first["id"])
    whole = beat(api)
    assert [s["id"] for s in whole["sources"]] == [first["id"]] and whole["assignment"]
    held, _ = settle(api, whole)
    again = beat(api, held)
    assert again["sources"] is None and again["protected_tags"] is None and again["assignment"] == held
    assert "pw1" not in str(again)  # no credentials when nothing changed

    # A probe is applied on the quiet path too, and a status is no change of assignment.
    probe = {"source_id": first["id"], "online": False, "detail": "Connection refused", "probed_unix": 1.0}
    quiet = beat(api, held, [probe])
    assert quiet["sources"] is None and quiet["assignment"] == held
    status = api.get(f"/api/v1/source/{first['id']}").json()
    assert status["status"] == "offline" and "refused" in status["status_detail"]

    # A new camera, placed: the next beat carries the whole list.
    second = api.post("/api/v1/source", json={"uri_rtsp": "rtsp://cam.example/2"}).json()
    placed(api, second["id"])
    changed = news(api, held)
    assert changed["sources"] is not None
    held, sources = settle(api, changed)
    assert sorted(s["id"] for s in sources) == sorted([first["id"], second["id"]])

    # A changed camera URL: its agent must learn it (with the new password).
    assert api.put(
        f"/api/v1/source/{first['id']}", json={"uri_rtsp": "rtsp://admin:pw2@cam.example/1"}
    ).is_success
    moved = news(api, held)
    assert "pw2" in str(moved["sources"])
    held, _ = settle(api, moved)

    # A protected tag: retention on the agent must learn it.
    group = api.post("/api/v1/group", json={"name": "g"}).json()
    api.post(f"/api/v1/group/{group['id']}/source/{second['id']}")
    api.post("/api/v1/record", json={"tag_name": "keep", "group_name": "g"})  # the agent is not there
    assert api.put("/api/v1/tag", params={"name": "keep"}, json={"protected": True}).is_success
    # Within a beat or so: a replica answers a quiet beat from what it read up to half a second ago.
    told = wait_until(lambda: (a := beat(api, held))["protected_tags"] is not None and a, 10, interval=0.2)
    assert told["protected_tags"] == ["keep"] and told["sources"] is not None


def test_an_agent_of_the_previous_release_gets_every_source_every_time(api: TestClient) -> None:
    added = api.post("/api/v1/source", json={"uri_rtsp": "rtsp://cam.example/1"}).json()
    placed(api, added["id"])
    for _ in range(3):
        answer = beat(api)
        assert answer["sources"] and answer["protected_tags"] == []
