"""Every route of /openapi.json, asked by each role: allowed or refused as the issue's table says.

The routes come from the app itself, so a route added without a permission (or without a line here
saying which role it is meant for) fails this test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controlplane.auth.roles import LOWEST_ROLE, Permission, Role
from tests.conftest import local_client, make_settings
from videorec_testing.accounts import bearer, one_per_role

BOOTSTRAP = "bootstrap-t0ken-9f2"
RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}

# The table, route by route: the lowest role each route is meant for. Written here, not read
# from the code, so that a permission changed in the code shows up as a failure to look at.
EXPECTED: dict[tuple[str, str], Role] = {
    ("GET", "/api/v1/source"): Role.VIEWER,
    ("POST", "/api/v1/source"): Role.ADMIN,
    ("POST", "/api/v1/source/batch"): Role.ADMIN,
    ("GET", "/api/v1/source/{source_id}"): Role.VIEWER,
    ("PUT", "/api/v1/source/{source_id}"): Role.ADMIN,
    ("DELETE", "/api/v1/source/{source_id}"): Role.ADMIN,
    ("GET", "/api/v1/source/{source_id}/picture"): Role.VIEWER,
    ("GET", "/api/v1/source/{source_id}/video"): Role.VIEWER,
    ("GET", "/api/v1/source/{source_id}/stream.mp4"): Role.VIEWER,
    ("POST", "/api/v1/live/ticket"): Role.VIEWER,
    ("GET", "/api/v1/group"): Role.VIEWER,
    ("POST", "/api/v1/group"): Role.ADMIN,
    ("GET", "/api/v1/group/{group_id}"): Role.VIEWER,
    ("DELETE", "/api/v1/group/{group_id}"): Role.ADMIN,
    ("POST", "/api/v1/group/{group_id}/source/{source_id}"): Role.ADMIN,
    ("DELETE", "/api/v1/group/{group_id}/source/{source_id}"): Role.ADMIN,
    ("GET", "/api/v1/tag"): Role.VIEWER,
    ("PUT", "/api/v1/tag"): Role.OPERATOR,  # protecting; unprotecting is admin's (below)
    ("GET", "/api/v1/tag/begin"): Role.VIEWER,
    ("GET", "/api/v1/tags"): Role.VIEWER,
    ("POST", "/api/v1/record"): Role.OPERATOR,
    ("PUT", "/api/v1/record"): Role.OPERATOR,
    ("GET", "/api/v1/record"): Role.VIEWER,
    ("GET", "/api/v1/record/runing"): Role.VIEWER,
    ("GET", "/api/v1/record/running"): Role.VIEWER,
    ("GET", "/api/v1/record/{record_id}"): Role.VIEWER,
    ("GET", "/api/v1/record/{record_id}/video"): Role.VIEWER,
    ("GET", "/api/v1/record/{record_id}/video_url"): Role.VIEWER,
    ("DELETE", "/api/v1/record/{record_id}/file"): Role.ADMIN,
    ("GET", "/api/v1/agent"): Role.VIEWER,
    ("DELETE", "/api/v1/agent/{name}"): Role.ADMIN,
    ("POST", "/api/v1/sync"): Role.OPERATOR,
    ("GET", "/api/v1/sync"): Role.VIEWER,
    ("GET", "/api/v1/sync/{job_id}"): Role.VIEWER,
    ("POST", "/api/v1/import"): Role.ADMIN,
    ("GET", "/api/v1/audit"): Role.ADMIN,
    ("GET", "/api/v1/me"): Role.VIEWER,
    ("GET", "/test/img"): Role.VIEWER,
    ("GET", "/test/video"): Role.VIEWER,
}
# Not user routes: probes, metrics and the agents' own endpoint (its own token).
OUTSIDE = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/internal/v1/agent/heartbeat"),
}
PATH_VALUES = {
    "source_id": "999999",
    "group_id": "999999",
    "record_id": "no-such",
    "name": "nobody",
    "job_id": "no-such",
}


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, dict[Role, str]]]:
    settings = make_settings(tmp_path, database_url, api_token=BOOTSTRAP)
    keys = one_per_role(settings)
    for client in local_client(settings):
        yield client, keys


def _operations(client: TestClient) -> Iterator[tuple[str, str, dict]]:
    for path, methods in client.get("/openapi.json").json()["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def _ask(client: TestClient, method: str, path: str, key: str):
    url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)
    body = {"protected": True} if (method, path) == ("PUT", "/api/v1/tag") else None
    params = {"name": "no-such"} if path == "/api/v1/tag" else None
    return client.request(method, url, headers=bearer(key), json=body, params=params)


def test_every_route_allows_and_refuses_each_role_as_the_table_says(
    api: tuple[TestClient, dict[Role, str]],
) -> None:
    client, keys = api
    seen = set()
    for method, path, operation in _operations(client):
        if (method, path) in OUTSIDE:
            continue
        assert (method, path) in EXPECTED, (
            f"{method} {path}: a new route: declare its permission, add it here"
        )
        seen.add((method, path))
        permission = operation.get("x-permission")
        assert permission is not None, f"{method} {path} declares no permission (Requires(Permission.X))"
        assert LOWEST_ROLE[Permission(permission)] is EXPECTED[(method, path)], (
            f"{method} {path}: {permission}"
        )
        for role, key in keys.items():
            response = _ask(client, method, path, key)
            if RANK[role] >= RANK[EXPECTED[(method, path)]]:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.text)
                assert permission in response.json()["detail"], response.text
                assert role.value in response.json()["detail"]
    assert seen == set(EXPECTED), f"routes gone from the app: {set(EXPECTED) - seen}"
    assert {(m, p) for m, p, _ in _operations(client)} - set(EXPECTED) == OUTSIDE


def test_without_a_valid_key_every_user_route_is_401(api: tuple[TestClient, dict[Role, str]]) -> None:
    client, keys = api
    forged = keys[Role.ADMIN][:-4] + "AAAA"  # the right key id, the wrong secret
    for method, path, _ in _operations(client):
        if (method, path) in OUTSIDE:
            continue
        for key in ("", "wrong", forged):
            response = _ask(client, method, path, key)
            assert response.status_code == 401, (method, path, key, response.text)


def test_the_bootstrap_token_is_admin(api: tuple[TestClient, dict[Role, str]]) -> None:
    client, _ = api
    me = client.get("/api/v1/me", headers=bearer(BOOTSTRAP)).json()
    assert (me["kind"], me["role"], me["authentication"]) == ("token", "admin", True)
    assert client.get("/api/v1/audit", headers=bearer(BOOTSTRAP)).status_code == 200
    assert client.delete("/api/v1/agent/nobody", headers=bearer(BOOTSTRAP)).status_code == 200


def test_only_an_admin_unprotects_a_tag(api: tuple[TestClient, dict[Role, str]]) -> None:
    client, keys = api
    for role, missing in ((Role.VIEWER, "protect_tag"), (Role.OPERATOR, "unprotect_tag")):
        response = client.put(
            "/api/v1/tag", params={"name": "t"}, json={"protected": False}, headers=bearer(keys[role])
        )
        assert response.status_code == 403
        assert f"permission {missing} is required" in response.json()["detail"]
    response = client.put(
        "/api/v1/tag", params={"name": "t"}, json={"protected": False}, headers=bearer(keys[Role.ADMIN])
    )
    assert response.status_code == 404  # allowed; there is no such tag


def test_a_removed_user_is_refused_at_once(tmp_path: Path) -> None:
    import asyncio

    from controlplane.db import make_engine, make_sessionmaker
    from controlplane.services import users

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", api_token=BOOTSTRAP)
    keys = one_per_role(settings)

    async def remove() -> None:
        engine = make_engine(settings.resolved_database_url())
        async with make_sessionmaker(engine)() as session:
            await users.remove(session, "viewer")
            await session.commit()
        await engine.dispose()

    for client in local_client(settings):
        assert client.get("/api/v1/me", headers=bearer(keys[Role.VIEWER])).json()["name"] == "viewer"
        asyncio.run(remove())
        assert client.get("/api/v1/me", headers=bearer(keys[Role.VIEWER])).status_code == 401


def test_open_mode_keeps_everyone_admin(client: TestClient) -> None:
    """No token, no SSO (`make run`): loopback callers are admins, as before roles existed."""
    me = client.get("/api/v1/me").json()
    assert (me["kind"], me["role"], me["authentication"]) == ("local", "admin", False)
    assert client.delete("/api/v1/agent/nobody").status_code == 200


def test_a_route_that_declares_no_permission_is_for_admins_only(tmp_path: Path) -> None:
    """Fail closed: a route put on the API's routers without Requires(...) answers admins only."""
    from fastapi import APIRouter, Depends

    from controlplane.api.access import declared_permission
    from controlplane.app import create_app

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", api_token=BOOTSTRAP)
    keys = one_per_role(settings)
    app = create_app(settings)
    forgotten = APIRouter(prefix="/api/v1", dependencies=[Depends(declared_permission)])

    @forgotten.get("/forgotten")
    async def forgotten_route() -> str:
        return "done"

    app.include_router(forgotten)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for role in (Role.VIEWER, Role.OPERATOR):
            response = client.get("/api/v1/forgotten", headers=bearer(keys[role]))
            assert response.status_code == 403 and "declares no permission" in response.json()["detail"]
        assert client.get("/api/v1/forgotten", headers=bearer(keys[Role.ADMIN])).json() == "done"
        assert "x-permission" not in client.get("/openapi.json").json()["paths"]["/api/v1/forgotten"]["get"]
