"""IPv6 forms that reach an IPv4 address (NAT64, IPv4-compatible, 6to4) and names with the root's
dot are checked as what they reach: no other spelling of this machine or of cloud metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controlplane.app import create_app
from tests.conftest import make_settings

REFUSED = [
    "rtsp://[64:ff9b::7f00:1]/x",  # NAT64 of 127.0.0.1
    "rtsp://[64:ff9b::a9fe:a9fe]/x",  # NAT64 of 169.254.169.254
    "rtsp://[64:ff9b:1::a9fe:a9fe]/x",  # local-use NAT64
    "rtsp://[::127.0.0.1]/x",  # IPv4-compatible
    "rtsp://[::169.254.169.254]/x",
    "rtsp://[2002:7f00:1::1]/x",  # 6to4 of 127.0.0.1
    "rtsp://localhost./x",
    "rtsp://LOCALHOST./x",
    "rtsp://cam.localhost./x",
]


@pytest.fixture
def strict(tmp_path: Path):
    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", camera_networks_deny=["10.9.0.0/16"]
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield client


@pytest.mark.parametrize("uri", REFUSED)
def test_other_spellings_of_local_addresses_are_refused(strict: TestClient, uri: str):
    answer = strict.post("/api/v1/source", json={"uri_rtsp": uri})
    assert answer.status_code == 422, answer.text
    assert strict.get("/api/v1/source").json() == []


def test_the_deny_list_applies_to_the_ipv4_address_a_nat64_one_reaches(strict: TestClient):
    assert strict.post("/api/v1/source", json={"uri_rtsp": "rtsp://[64:ff9b::a09:1]/x"}).status_code == 422
    assert strict.post("/api/v1/source", json={"uri_rtsp": "rtsp://[64:ff9b::a0a:1]/x"}).status_code == 201
    assert strict.post("/api/v1/source", json={"uri_rtsp": "rtsp://[2001:db8::1]/x"}).status_code == 201


def test_agents_are_told_the_camera_networks_to_check_names_against(strict: TestClient):
    """Names the control plane cannot resolve are checked by the agent, with this policy."""
    answer = strict.post("/internal/v1/agent/heartbeat", json={"name": "a", "address": "127.0.0.1:1"})
    assert answer.json()["camera_networks"] == {"allow_local": False, "deny": ["10.9.0.0/16"], "allow": []}
