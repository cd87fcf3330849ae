"""An agent's HTTP address is where the control plane relays downloads from: only on the host it
already dials for gRPC, and never a link-local or unspecified address (cloud metadata)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controlplane.agent_identity import token_for
from shared.heartbeat import HEARTBEAT_PATH
from tests.conftest import local_client, make_settings

KEY = "test-agents-key-0123456789"


@pytest.fixture
def keyed(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    yield from local_client(make_settings(tmp_path, database_url, agents_key=KEY, http_port=8080))


def beat(client: TestClient, address: str, http_address: str | None):
    body = {"name": "a", "address": address, "http_address": http_address}
    return client.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {token_for(KEY, 'a')}"})


@pytest.mark.parametrize(
    ("address", "http_address", "field"),
    [
        ("10.0.0.5:50051", "169.254.169.254:80", "http_address"),  # cloud metadata
        ("10.0.0.5:50051", "127.0.0.1:8080", "http_address"),  # the control plane's own port
        ("agent.example:50051", "other.example:8081", "http_address"),
        ("169.254.169.254:50051", "169.254.169.254:80", "address"),
        ("[::ffff:169.254.169.254]:50051", "[::ffff:169.254.169.254]:80", "address"),
        ("[fe80::1]:50051", "[fe80::1]:80", "address"),
        ("0.0.0.0:50051", "0.0.0.0:80", "address"),
    ],
)
def test_an_agent_cannot_point_the_proxy_at_another_host(
    keyed: TestClient, address: str, http_address: str, field: str
):
    answer = beat(keyed, address, http_address)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", field]
    assert keyed.get("/api/v1/agent").json() == []  # nothing stored


@pytest.mark.parametrize(
    ("address", "http_address"),
    [
        ("10.0.0.5:50051", "10.0.0.5:8081"),
        ("Agent.Example:50051", "agent.example:8081"),
        ("[::1]:1", "[::1]:2"),
    ],
)
def test_an_http_port_on_the_grpc_host_is_taken(keyed: TestClient, address: str, http_address: str):
    assert beat(keyed, address, http_address).status_code == 200
