"""The HTTP edge (issue 14): tokens before bodies, capped bodies, scrubbed access logs, and in local
mode (no token) loopback Hosts and same-origin writes only."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from controlplane.api.access_log import scrub_target
from controlplane.app import create_app
from tests.conftest import make_settings
from videorec_testing.processes import ControlPlane
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until

TOKEN = "edge-t0ken-5k2"
CANARY = "Canary-pw-31d8a"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with start_stack(
        tmp_path_factory.mktemp("edge"), agents=0, cp_env={"VIDEOREC_API_TOKEN": TOKEN}
    ) as stack:
        yield stack.cp


def _raw_post(cp: ControlPlane, headers: str, sent: int) -> bytes:
    """Announce a 100 MB body, send only `sent` bytes of it, and return what the server answers."""
    port = int(cp.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = (
            "POST /api/v1/source HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {100 * 1024 * 1024}\r\n{headers}\r\n"
        )
        sock.sendall(head.encode() + b" " * sent)
        # A server that waited for the whole body would time out here (socket.timeout fails the test).
        return sock.recv(4096)


def test_a_large_body_without_a_token_is_401_before_it_is_read(cp: ControlPlane) -> None:
    answer = _raw_post(cp, "", 64 * 1024)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_a_large_body_with_the_token_is_413_before_it_is_read(cp: ControlPlane) -> None:
    answer = _raw_post(cp, f"Authorization: Bearer {TOKEN}\r\n", 64 * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_chunked_body_beyond_the_cap_is_413(cp: ControlPlane) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"description": "'
        for _ in range(40):
            yield b"x" * 65536

    with cp.client() as c:
        response = c.post("/api/v1/source", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    with cp.client() as c:
        assert c.get("/api/v1/source").json() == []


def test_the_access_log_never_shows_a_password_from_a_query_string(cp: ControlPlane) -> None:
    with cp.client() as c:
        uri = f"rtsp://cam:{CANARY}@10.0.0.5/live?pwd={CANARY}"
        created = c.post("/api/v1/source", params={"uri_rtsp": uri, "description": "q"})
        assert created.status_code == 201, created.text
        c.get("/api/v1/tag", params={"name": "nothing", "token": CANARY})

    def logged() -> bool:
        return "POST /api/v1/source?" in cp.log() and "GET /api/v1/tag?" in cp.log()

    # The access line is written after the answer is sent.
    wait_until(logged, 10, what=f"both access lines in the log: {cp.log()[-2000:]}")
    log = cp.log()
    for spelling in (CANARY, CANARY.lower(), httpx.QueryParams({"p": CANARY}).get("p")):
        assert spelling not in log
    assert "name=nothing" in log  # what was asked stays readable


def test_scrub_target_keeps_harmless_values_only() -> None:
    assert scrub_target("/api/v1/record?tag_name=m1&pwd=x&uri_rtsp=rtsp%3A%2F%2Fu%3Ap%40h") == (
        "/api/v1/record?tag_name=m1&pwd=***&uri_rtsp=***"
    )
    assert scrub_target("/api/v1/source") == "/api/v1/source"


@pytest.fixture
def local(tmp_path: Path) -> Iterator[TestClient]:
    """Local mode: no API token."""
    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", cors_origins=["https://console.example"]
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8080") as client:
        yield client


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "LOCALHOST:1", "[::1]:8080", "127.0.0.1"])
def test_local_mode_serves_loopback_hosts(local: TestClient, host: str) -> None:
    assert local.get("/api/v1/source", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8080", "10.0.0.1:8080", "127.0.0.1.evil.example"]
)
def test_local_mode_refuses_other_hosts(local: TestClient, host: str) -> None:
    """DNS rebinding: a page whose name now points to 127.0.0.1 still sends its own Host."""
    response = local.get("/api/v1/source", headers={"Host": host})
    assert response.status_code == 403
    assert "Host" in response.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:9999"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_local_mode_refuses_cross_origin_writes(local: TestClient, headers: dict[str, str]) -> None:
    response = local.post("/api/v1/group", data={"name": "from-a-form"}, headers=headers)
    assert response.status_code == 403
    assert local.get("/api/v1/group").json() == []


def test_local_mode_accepts_same_origin_and_configured_origin_writes(local: TestClient) -> None:
    same = local.post("/api/v1/group", json={"name": "a"}, headers={"Origin": "http://127.0.0.1:8080"})
    assert same.status_code == 201, same.text
    console = local.post("/api/v1/group", json={"name": "b"}, headers={"Origin": "https://console.example"})
    assert console.status_code == 201, console.text
    assert console.headers["access-control-allow-origin"] == "https://console.example"
    preflight = local.options(
        "/api/v1/group",
        headers={"Origin": "https://console.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://console.example"


def test_allowed_hosts_setting_and_token_mode_serve_other_hosts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with TestClient(create_app(make_settings(tmp_path, url, allowed_hosts=["vr.lan"]))) as client:
        assert client.get("/api/v1/source", headers={"Host": "vr.lan:8080"}).status_code == 200
    with TestClient(create_app(make_settings(tmp_path, url, api_token="tk-123"))) as client:
        auth = {"Authorization": "Bearer tk-123", "Host": "vr.example"}
        assert client.get("/api/v1/source", headers=auth).status_code == 200
