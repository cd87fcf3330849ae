"""Hostile cases of the live video's API: the WebSocket's ticket (unguessable, one use, lapses, holds
no secret, refusals audited) and the WebSocket's messages (bounded: binary, oversized, deeply nested,
malformed, out of range, more tiles than allowed are each answered with an error, never a crash)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from controlplane.api.routes.live import MAX_TILES
from controlplane.auth.roles import Role
from controlplane.services import live_tickets
from tests.conftest import local_client, make_settings
from videorec_testing.accounts import bearer, one_per_role

BOOTSTRAP = "bootstrap-t0ken-live-9"
WS = "/api/v1/live/ws"


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, dict[Role, str]]]:
    settings = make_settings(tmp_path, database_url, api_token=BOOTSTRAP)
    keys = one_per_role(settings)
    for client in local_client(settings):
        yield client, keys


def _ticket(client: TestClient, key: str) -> str:
    response = client.post("/api/v1/live/ticket", headers=bearer(key))
    assert response.status_code == 200, response.text
    ticket = response.json()["ticket"]
    assert isinstance(ticket, str)
    return ticket


def _refused(client: TestClient, url: str) -> bool:
    try:
        with client.websocket_connect(url):
            return False
    except WebSocketDisconnect as closed:
        assert closed.code == 1008
        return True


def _audit(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit", params={"limit": 500}, headers=bearer(BOOTSTRAP))
    assert response.status_code == 200
    entries = response.json()
    assert isinstance(entries, list)
    return entries


def test_without_a_key_there_is_no_stream_and_no_ticket(api: tuple[TestClient, dict[Role, str]]) -> None:
    client, _ = api
    assert client.get("/api/v1/source/1/stream.mp4").status_code == 401
    assert client.post("/api/v1/live/ticket").status_code == 401
    assert (
        client.post("/api/v1/live/ticket", headers=bearer("vru1.aaaaaaaaaaaaaaaa." + "b" * 43)).status_code
        == 401
    )
    for refused in (
        WS,
        f"{WS}?ticket=",
        f"{WS}?ticket={BOOTSTRAP}",
        f"{WS}?ticket=1.2.3",
        f"{WS}?ticket={'x' * 5000}",
    ):
        assert _refused(client, refused), refused


def test_every_role_may_watch_with_a_ticket_that_is_unguessable_and_holds_no_secret(
    api: tuple[TestClient, dict[Role, str]],
) -> None:
    client, keys = api
    tickets = {role: _ticket(client, key) for role, key in keys.items()}
    tickets[Role.ADMIN] = _ticket(client, BOOTSTRAP)
    assert len(set(tickets.values())) == len(tickets)
    for role, ticket in tickets.items():
        assert len(ticket) >= 43, ticket  # 256 random bits
        for secret in (BOOTSTRAP, *keys.values(), *(k.split(".")[2] for k in keys.values())):
            assert secret not in ticket
        with client.websocket_connect(f"{WS}?ticket={ticket}") as ws:
            ws.send_text(json.dumps({"open": 1, "source": 999999}))
            assert _until_tile_state(ws, 1, "offline")["code"] == 404, role
    trail = json.dumps(_audit(client))
    for secret in (*tickets.values(), BOOTSTRAP, *keys.values()):
        assert secret not in trail


def test_a_ticket_opens_one_websocket_once_and_refusals_are_audited(
    api: tuple[TestClient, dict[Role, str]],
) -> None:
    client, keys = api
    ticket = _ticket(client, keys[Role.VIEWER])
    with client.websocket_connect(f"{WS}?ticket={ticket}") as ws:
        ws.send_text(json.dumps({"open": 7, "source": 424242}))
        _until_tile_state(ws, 7, "offline")
        assert _refused(client, f"{WS}?ticket={ticket}")  # replayed while the first is open
    assert _refused(client, f"{WS}?ticket={ticket}")  # and after
    entries = [e for e in _audit(client) if e["action"] in ("live_wall", "live_wall_tile")]
    assert [(e["actor_kind"], e["actor"], e["result"], e["target"]) for e in entries] == [
        ("anonymous", None, "refused", None),
        ("anonymous", None, "refused", None),
        ("user", "viewer", "ok", "source:424242"),
    ]
    issued = [e for e in _audit(client) if e["action"] == "live_ticket"]
    assert [(e["actor"], e["result"]) for e in issued] == [("viewer", "ok")]


def test_a_ticket_is_refused_after_its_time(
    api: tuple[TestClient, dict[Role, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, keys = api
    ticket = _ticket(client, keys[Role.VIEWER])
    real_now = live_tickets.utcnow
    monkeypatch.setattr(
        live_tickets, "utcnow", lambda: real_now() + timedelta(seconds=live_tickets.TICKET_TTL_S + 1)
    )
    assert _refused(client, f"{WS}?ticket={ticket}")
    monkeypatch.setattr(live_tickets, "utcnow", real_now)
    assert _refused(client, f"{WS}?ticket={ticket}")  # a lapsed ticket is not kept for later either


def _until_tile_state(ws: Any, tile: int, state: str, limit: int = 50) -> dict[str, Any]:
    for _ in range(limit):
        message = ws.receive_json()
        if message.get("tile") == tile and message.get("state") == state:
            assert isinstance(message, dict)
            return message
    raise AssertionError(f"tile {tile} never {state}")


def _error(ws: Any) -> str:
    message = ws.receive_json()
    assert set(message) == {"error"}, message
    error = message["error"]
    assert isinstance(error, str)
    return error


def test_websocket_messages_are_bounded(
    api: tuple[TestClient, dict[Role, str]], caplog: pytest.LogCaptureFixture
) -> None:
    client, keys = api
    caplog.set_level(logging.WARNING)
    with client.websocket_connect(f"{WS}?ticket={_ticket(client, keys[Role.VIEWER])}") as ws:
        bad: list[str | bytes] = [
            b"\x00\x01binary",
            "not json",
            "{",
            "[" * 100_000,  # oversized and nested far deeper than the parser goes
            "[" * 500 + "]" * 500,  # within the size, nested: still an answer
            json.dumps({"open": 1, "source": 1, "pad": "x" * 20_000}),
            json.dumps([1, 2]),
            json.dumps({"hello": 1}),
            json.dumps({"open": 70_000, "source": 1}),
            json.dumps({"open": -1, "source": 1}),
            json.dumps({"open": "1", "source": 1}),
            json.dumps({"open": True, "source": 1}),
            json.dumps({"open": 1.5, "source": 1}),
            json.dumps({"open": 1}),
            json.dumps({"open": 1, "source": 10**30}),
            json.dumps({"close": "all"}),
            json.dumps({"close": 10**9}),
        ]
        for message in bad:
            if isinstance(message, bytes):
                ws.send_bytes(message)
            else:
                ws.send_text(message)
            assert _error(ws).startswith("bad message"), message
        ws.send_text(json.dumps({"close": 12}))  # an unknown tile: nothing to close, no answer
        # More tiles than a wall may hold (a tile counts until closed, offline or not): refused.
        for tile in range(MAX_TILES):
            ws.send_text(json.dumps({"open": tile, "source": 555_000 + tile}))
            assert _until_tile_state(ws, tile, "offline")["code"] == 404
        for tile in range(MAX_TILES, MAX_TILES + 3):
            ws.send_text(json.dumps({"open": tile, "source": 1}))
            assert f"at most {MAX_TILES} tiles" in _error(ws)
        for tile in range(MAX_TILES):
            ws.send_text(json.dumps({"close": tile}))
        # Thousands of bad messages are each answered, in order, and the wall still works after.
        for tile in range(65_536, 65_536 + 3000):
            ws.send_text(json.dumps({"open": tile, "source": 1}))
        for _ in range(3000):
            assert "0 to 65535" in _error(ws)
        ws.send_text(json.dumps({"open": 65_535, "source": 999_999}))
        assert _until_tile_state(ws, 65_535, "offline")["code"] == 404
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], [
        r.getMessage() for r in caplog.records
    ]


def test_the_audit_keeps_a_bounded_part_of_a_long_path(api: tuple[TestClient, dict[Role, str]]) -> None:
    client, keys = api
    long_path = "/api/v1/" + "p" * 10_000
    response = client.post(long_path, headers={**bearer(keys[Role.VIEWER]), "User-Agent": "u" * 10_000})
    assert response.status_code in (403, 404, 405)
    entry = next(e for e in _audit(client) if e["actor"] == "viewer")
    assert len(json.dumps(entry)) < 1000, entry
    assert "uuuuuuuuuu" not in json.dumps(entry)
