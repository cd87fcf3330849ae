"""GET /api/v1/audit (filters, paging, admins only), what open mode writes, and retention's purge,
which several replicas may run at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select

from controlplane.auth.principal import ActorKind
from controlplane.auth.roles import Role
from controlplane.db import make_engine, make_sessionmaker
from controlplane.models.audit import AuditEntry, AuditResult
from controlplane.services import audit
from controlplane.settings import Settings
from tests.conftest import local_client, make_settings
from videorec_testing.accounts import bearer, one_per_role

BOOTSTRAP = "bootstrap-t0ken-77a"


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, dict[Role, str]]]:
    settings = make_settings(tmp_path, database_url, api_token=BOOTSTRAP)
    keys = one_per_role(settings)
    for client in local_client(settings):
        yield client, keys


def test_the_trail_filters_and_pages_newest_first(api: tuple[TestClient, dict[Role, str]]) -> None:
    client, keys = api
    admin = bearer(keys[Role.ADMIN])
    for name in ("g1", "g2", "g3"):
        assert client.post("/api/v1/group", json={"name": name}, headers=admin).status_code == 201
    assert client.post("/api/v1/group", json={"name": "g1"}, headers=admin).status_code == 409
    assert (
        client.post("/api/v1/group", json={"name": "x"}, headers=bearer(keys[Role.OPERATOR])).status_code
        == 403
    )

    def trail(**params: object) -> list[dict]:
        response = client.get("/api/v1/audit", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return response.json()

    everything = trail(action="create_group")
    assert [(e["actor"], e["target"], e["result"], e["status"]) for e in everything] == [
        ("operator", None, "refused", 403),
        ("admin", None, "failed", 409),
        ("admin", "group:3", "ok", 201),
        ("admin", "group:2", "ok", 201),
        ("admin", "group:1", "ok", 201),
    ]
    assert [e["target"] for e in trail(action="create_group", limit=2, offset=2)] == ["group:3", "group:2"]
    assert [e["status"] for e in trail(user="operator")] == [403]
    assert [e["actor"] for e in trail(target="group:2")] == ["admin"]
    middle = everything[2]["time_utc"]
    assert [e["target"] for e in trail(action="create_group", until=middle)] == ["group:2", "group:1"]
    assert len(trail(action="create_group", since=middle)) == 3
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert trail(since=future) == []
    # Bad filters are the usual 422, never a 500.
    assert client.get("/api/v1/audit", params={"since": "yesterday"}, headers=admin).status_code == 422
    assert client.get("/api/v1/audit", params={"limit": 0}, headers=admin).status_code == 422
    assert client.get("/api/v1/audit", params={"user": "a\x00b"}, headers=admin).status_code == 422


def test_only_admins_read_the_trail(api: tuple[TestClient, dict[Role, str]]) -> None:
    client, keys = api
    for role in (Role.VIEWER, Role.OPERATOR):
        response = client.get("/api/v1/audit", headers=bearer(keys[role]))
        assert response.status_code == 403
        assert "read_audit" in response.json()["detail"]
    # The refusals are in it, and reading it is not.
    entries = client.get("/api/v1/audit", headers=bearer(keys[Role.ADMIN])).json()
    assert [(e["actor"], e["action"], e["permission"]) for e in entries[:2]] == [
        ("operator", "list_audit", "read_audit"),
        ("viewer", "list_audit", "read_audit"),
    ]
    assert {e["action"] for e in entries[2:]} == {"add_user"}  # made by the fixture, on this host


def test_open_mode_writes_changes_as_local(client: TestClient) -> None:
    assert client.post("/api/v1/group", json={"name": "g"}).status_code == 201
    assert client.get("/api/v1/group").status_code == 200
    entries = client.get("/api/v1/audit").json()
    assert [(e["actor_kind"], e["actor"], e["role"], e["action"], e["target"]) for e in entries] == [
        ("local", "local", "admin", "create_group", "group:1")
    ]


def _old_entry(when: datetime, n: int) -> AuditEntry:
    return AuditEntry(
        time_utc=when,
        actor_kind=ActorKind.USER,
        actor=f"u{n}",
        action="start_recording",
        result=AuditResult.OK,
    )


async def _purge_twice_at_once(settings: Settings, old: int, new: int) -> tuple[int, int, int]:
    engine = make_engine(settings.resolved_database_url())
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    try:
        async with sessions() as session:
            for n in range(old):
                session.add(_old_entry(now - timedelta(days=settings.audit_retention_days + 1), n))
            for n in range(new):
                session.add(_old_entry(now - timedelta(days=settings.audit_retention_days - 1), n))
            await session.commit()
        first, second = await asyncio.gather(
            audit.purge_once(sessions, settings, now), audit.purge_once(sessions, settings, now)
        )
        async with sessions() as session:
            left = (await session.exec(select(func.count()).select_from(AuditEntry))).one()
        return first, second, left
    finally:
        await engine.dispose()


def test_retention_purges_old_entries_once_however_many_replicas_purge(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, database_url, audit_retention_days=30)
    one_per_role(settings)  # migrates the database (and writes three add_user entries of today)
    monkeypatch.setattr(audit, "PURGE_BATCH", 7)  # several batches
    first, second, left = asyncio.run(_purge_twice_at_once(settings, old=40, new=5))
    assert first + second == 40
    assert left == 5 + 3


@pytest.mark.parametrize("api_token", [BOOTSTRAP, None])
def test_a_refused_heartbeat_is_in_the_trail_without_its_token(
    tmp_path: Path, database_url: str, api_token: str | None
) -> None:
    """Anonymous, in open mode too: the agents' endpoint is not a local user's."""
    from shared.heartbeat import HEARTBEAT_PATH

    settings = make_settings(tmp_path, database_url, api_token=api_token, agent_token="agent-t0ken-1")
    for client in local_client(settings):
        refused = client.post(HEARTBEAT_PATH, json={}, headers=bearer("agent-t0ken-WRONG"))
        assert refused.status_code == 401
        entries = client.get("/api/v1/audit", headers=bearer(BOOTSTRAP))
        assert [(e["actor_kind"], e["action"], e["result"], e["status"]) for e in entries.json()] == [
            ("anonymous", "heartbeat", "refused", 401)
        ]
        assert "agent-t0ken" not in entries.text


def test_refusals_are_counted_by_status_and_permission_websocket_included(
    api: tuple[TestClient, dict[Role, str]],
) -> None:
    from starlette.websockets import WebSocketDisconnect

    from videorec_testing.metrics import sample

    client, keys = api

    def refusals(status: str, permission: str) -> float:
        return (
            sample(
                client.get("/metrics").text,
                "videorec_auth_refusals_total",
                status=status,
                permission=permission,
            )
            or 0.0
        )

    assert client.get("/api/v1/source", headers=bearer("wrong")).status_code == 401
    assert client.get("/api/v1/source").status_code == 401
    for _ in range(2):
        assert client.delete("/api/v1/record/r1/file", headers=bearer(keys[Role.OPERATOR])).status_code == 403
    assert client.get("/api/v1/audit", headers=bearer(keys[Role.VIEWER])).status_code == 403
    for _ in range(3):  # the live wall's WebSocket without a good ticket: refused, and counted as one
        try:
            with client.websocket_connect("/api/v1/live/ws?ticket=forged"):
                raise AssertionError("a forged ticket opened the live wall")
        except WebSocketDisconnect as closed:
            assert closed.code == 1008
    assert client.get("/api/v1/source", headers=bearer(keys[Role.VIEWER])).status_code == 200  # not one
    assert refusals("401", "none") == 2
    assert refusals("403", "delete_files") == 2
    assert refusals("403", "read_audit") == 1
    assert refusals("403", "live") == 3
    entries = client.get("/api/v1/audit", headers=bearer(keys[Role.ADMIN]), params={"limit": 50}).json()
    assert sum(e["result"] == "refused" for e in entries) == 2 + 2 + 1 + 3


def test_the_database_refuses_changing_an_entry(tmp_path: Path, database_url: str) -> None:
    """Append-only for the application: even a statement sent through its own connection cannot
    rewrite who did what; retention's purge still deletes (above)."""
    from sqlalchemy import update
    from sqlalchemy.exc import DBAPIError

    settings = make_settings(tmp_path, database_url)
    one_per_role(settings)  # migrates, and writes three add_user entries

    async def rewrite() -> tuple[str, list[str | None]]:
        engine = make_engine(settings.resolved_database_url())
        try:
            async with make_sessionmaker(engine)() as session:
                try:
                    await session.exec(update(AuditEntry).values(actor="nobody"))  # type: ignore[call-overload]
                    await session.commit()
                    refusal = ""
                except DBAPIError as exc:
                    refusal = str(exc)
            async with make_sessionmaker(engine)() as session:
                return refusal, list((await session.exec(select(AuditEntry.actor))).all())
        finally:
            await engine.dispose()

    refusal, actors = asyncio.run(rewrite())
    assert "append-only" in refusal
    assert "nobody" not in actors and len(actors) == 3


def test_a_running_service_purges_entries_past_retention(tmp_path: Path, database_url: str) -> None:
    """The purge runs in the service itself (every replica, at start and every interval), not only when
    called: an entry older than the retention is gone without anyone asking."""
    from videorec_testing.wait import wait_until

    settings = make_settings(tmp_path, database_url, api_token=BOOTSTRAP, audit_retention_days=30)
    one_per_role(settings)  # migrates

    async def add_old() -> None:
        engine = make_engine(settings.resolved_database_url())
        try:
            async with make_sessionmaker(engine)() as session:
                session.add(_old_entry(datetime.now(UTC) - timedelta(days=31), 1))
                session.add(_old_entry(datetime.now(UTC) - timedelta(days=29), 2))
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(add_old())
    for client in local_client(settings):
        wait_until(lambda c=client: _actors(c) == {"u2"}, 30, what="the entry past retention to be purged")


def _actors(client: TestClient) -> set[str]:
    entries = client.get("/api/v1/audit", params={"action": "start_recording"}, headers=bearer(BOOTSTRAP))
    return {e["actor"] for e in entries.json()}
