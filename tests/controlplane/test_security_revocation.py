"""Revocation works for any name: a token leaked before its host was ever started ends with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controlplane.agent_identity import token_for
from controlplane.app import create_app
from shared.heartbeat import HEARTBEAT_PATH
from tests.conftest import make_settings

KEY = "test-agents-key-0123456789"


@pytest.fixture
def keyed(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, database_url, agents_key=KEY)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield client


def beat(client: TestClient, name: str, token: str):
    body = {"name": name, "address": "127.0.0.1:50051", "site": "north"}
    return client.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("token_site", [None, "north"])
def test_an_enrolled_name_that_never_connected_can_be_revoked(keyed: TestClient, token_site: str | None):
    leaked = token_for(KEY, "north-7", token_site)
    revoked = keyed.delete("/api/v1/agent/north-7")
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["name"], revoked.json()["revoked"]) == ("north-7", True)
    refused = beat(keyed, "north-7", leaked)
    assert refused.status_code == 401 and "revoked" in refused.text
    assert [(a["name"], a["revoked"], a["state"]) for a in keyed.get("/api/v1/agent").json()] == [
        ("north-7", True, "offline")
    ]
    # Revoking again answers the same, and nothing else was given the name meanwhile.
    assert keyed.delete("/api/v1/agent/north-7").json()["revoked"] is True
    assert beat(keyed, "north-8", token_for(KEY, "north-8", token_site)).status_code == 200


@pytest.mark.parametrize("name", ["a b", "a:b", "é", "x" * 129])
def test_a_name_no_token_can_carry_is_a_422(keyed: TestClient, name: str):
    answer = keyed.delete(f"/api/v1/agent/{name}")
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["path", "name"]
    assert keyed.get("/api/v1/agent").json() == []
