"""A changed assignment is answered source by source, on SQLite and PostgreSQL: an agent that sends
the sources it holds and the assignment it acknowledges is told only the sources added or changed
since (the only ones with credentials) and the ids it must drop; a source left alone is never sent
again. An agent of the previous release (no `held`) still gets the whole list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared.heartbeat import HEARTBEAT_PATH
from tests.conftest import local_client, make_settings
from videorec_testing.wait import wait_until

TOKEN = "source-delta-token"


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    yield from local_client(make_settings(tmp_path, database_url, agent_token=TOKEN, failover_after_s=600.0))


class Agent:
    """Beats as the agent does: the assignment it holds and its sources' ids, a delta applied."""

    def __init__(self, api: TestClient) -> None:
        self.api = api
        self.assignment: str | None = None
        self.held: dict[int, dict] = {}

    def beat(self, *, held: bool = True) -> dict:
        body: dict[str, object] = {"name": "a1", "address": "127.0.0.1:40001", "capacity": 8}
        if held:
            body |= {"assignment": self.assignment, "held": list(self.held) if self.assignment else None}
        response = self.api.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.text
        answer = response.json()
        if held and answer["sources"] is not None:
            self.held = {s["id"]: s for s in answer["sources"]}
        elif held and answer["changed"] is not None:
            for gone in answer["removed"]:
                self.held.pop(gone)
            self.held |= {s["id"]: s for s in answer["changed"]}
        if held:
            self.assignment = answer["assignment"]
        return answer

    def news(self) -> dict:
        """The first answer that says something changed: within a beat or so (a replica answers a
        quiet beat from what it read up to half a second ago)."""
        return wait_until(
            lambda: ((a := self.beat())["changed"] is not None or a["sources"] is not None) and a,
            10,
            interval=0.2,
        )

    def settle(self) -> None:
        """Beat until the answer is quiet (a change committed while a beat was answered comes again)."""
        for _ in range(5):
            if (a := self.beat())["sources"] is None and a["changed"] is None:
                return
        raise AssertionError("never quiet")


def _add(api: TestClient, uri: str) -> int:
    return int(api.post("/api/v1/source", json={"uri_rtsp": uri}).json()["id"])


def _placed(agent: Agent, *ids: int) -> None:
    """The placement loop (no heartbeat places) gives them to a1 while it beats."""
    wait_until(
        lambda: set(ids) <= set(agent.held) or (agent.beat() and False), 20, interval=0.2, what="placed"
    )


def test_an_agent_holding_its_sources_is_told_only_what_changed(api: TestClient) -> None:
    agent = Agent(api)
    one = _add(api, "rtsp://admin:pwOne@cam.example/1")
    two = _add(api, "rtsp://admin:pwTwo@cam.example/2")
    _placed(agent, one, two)
    agent.settle()
    assert set(agent.held) == {one, two}

    # One camera's URL (and password) changed: only it comes, with its new password.
    assert api.put(f"/api/v1/source/{one}", json={"uri_rtsp": "rtsp://admin:pwNew@cam.example/1"}).is_success
    answer = agent.news()
    assert answer["sources"] is None and [s["id"] for s in answer["changed"]] == [one]
    assert "pwNew" in str(answer) and "pwTwo" not in str(answer) and answer["removed"] == []
    agent.settle()

    # A source placed on the agent: it alone comes.
    three = _add(api, "rtsp://admin:pwThree@cam.example/3")
    _placed(agent, three)
    agent.settle()
    assert set(agent.held) == {one, two, three} and "pwNew" in agent.held[one]["uri_rtsp"]

    # A source deleted: its id to drop, nothing else sent.
    assert api.delete(f"/api/v1/source/{two}").is_success
    answer = agent.news()
    assert answer["changed"] == [] and answer["removed"] == [two]
    assert "pw" not in str(answer["changed"])
    agent.settle()
    assert set(agent.held) == {one, three}


def test_a_beat_without_held_sources_gets_the_whole_list(api: TestClient) -> None:
    agent = Agent(api)
    one = _add(api, "rtsp://admin:pwOne@cam.example/1")
    _placed(agent, one)
    agent.settle()
    assert api.put(f"/api/v1/source/{one}", json={"description": "renamed"}).is_success
    # The previous release's beat: no assignment, no held sources: every source, every time.
    for _ in range(2):
        whole = agent.beat(held=False)
        assert [s["id"] for s in whole["sources"]] == [one] and "pwOne" in str(whole["sources"])
        assert whole["changed"] is None
    # With an assignment but no `held` (the previous release once it holds one): a change sends all.
    two = _add(api, "rtsp://admin:pwTwo@cam.example/2")
    placed = lambda: api.get(f"/api/v1/source/{two}").json()["agent"] == "a1"  # noqa: E731
    wait_until(lambda: placed() or (agent.beat(held=False) and False), 20, interval=0.2)
    body = {"name": "a1", "address": "127.0.0.1:40001", "capacity": 8, "assignment": agent.assignment}

    def told() -> dict | None:
        answer = api.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {TOKEN}"}).json()
        return answer if answer["sources"] is not None else None  # quiet until this replica's next read

    old = wait_until(told, 10, interval=0.2, what="the change told")
    assert sorted(s["id"] for s in old["sources"]) == [one, two] and old["changed"] is None
