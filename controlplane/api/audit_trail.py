"""Writes the audit trail as requests are answered: every state change (any write under /api/ and
/test/, whatever its outcome), every download or signed URL, every live view opened, and every
refused request (401, 403) wherever it was refused, the edge included.

The entry is committed before the answer's first byte leaves, so a client that has its answer finds
its entry. Who comes from the request state the edge left (`principal`), what it needed and what it
was about from the route's `Access` (api/access.py); the rest from the route and its path. Nothing
from the headers, the body or the query beyond a tag name is written: no key or token can get in."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane.api.access import ACCESS, Access
from controlplane.api.edge import PRINCIPAL, SAFE_METHODS, TOKEN_PREFIXES
from controlplane.auth.principal import ActorKind, Principal
from controlplane.auth.roles import AUDITED_READS
from controlplane.db import utcnow
from controlplane.metrics import Metrics
from controlplane.models.audit import AuditEntry, AuditResult
from controlplane.services import audit

log = logging.getLogger(__name__)
REFUSED = frozenset({401, 403})
# Path parameters → what the target names (record:ID, source:ID, ...).
PATH_TARGETS = {
    "source_id": "source",
    "group_id": "group",
    "record_id": "record",
    "job_id": "sync",
    "name": "agent",
}
TAG_PARAMS = ("tag_name", "name")  # the query parameters that name a tag
MAX_TARGET = 300


class AuditTrail:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        noted = False

        async def answer(message: Message) -> None:
            nonlocal noted
            if message["type"] == "http.response.start" and not noted:
                noted = True
                await self._note(scope, message["status"])
            await send(message)

        try:
            await self.app(scope, receive, answer)
        except Exception:
            if not noted:  # the 500 is answered further out: it is a result all the same
                await self._note(scope, 500)
            raise

    async def _note(self, scope: Scope, status: int) -> None:
        state: dict[str, Any] = scope.get("state") or {}
        access = state.get(ACCESS)
        access = access if isinstance(access, Access) else None
        permission = access.permission if access else None
        if status in REFUSED:
            self.metrics.auth_refusals.labels(str(status), permission.value if permission else "none").inc()
        path: str = scope["path"]
        writes = scope["method"] not in SAFE_METHODS and (path.startswith(TOKEN_PREFIXES) or path == "/test")
        if not (status in REFUSED or writes or permission in AUDITED_READS):
            return
        ctx = state.get("ctx")
        if ctx is None:
            return
        entry = self._entry(scope, status, state.get(PRINCIPAL), access)
        try:
            await audit.write(ctx.sessions, entry)
        except Exception as exc:  # the answer still goes out; the failure is logged and counted
            self.metrics.audit_write_failures.inc()
            log.error(
                "audit entry not written (%s): %s %s %s",
                type(exc).__name__,
                entry.actor,
                entry.action,
                status,
            )

    def _entry(self, scope: Scope, status: int, principal: Any, access: Access | None) -> AuditEntry:
        who = principal if isinstance(principal, Principal) else None
        route_name, path_params = self._route(scope)
        client = scope.get("client")
        action = (access.action if access else None) or route_name or f"{scope['method']} {scope['path']}"
        target = (access.target if access else None) or _target(scope, path_params)
        return AuditEntry(
            time_utc=utcnow(),
            actor_kind=who.kind if who else ActorKind.ANONYMOUS,
            actor=who.name if who else None,
            role=who.role.value if who and who.role else None,
            action=_text(action, 128),
            target=_text(target, MAX_TARGET) if target else None,
            detail=_text(access.detail, 500) if access and access.detail else None,
            result=AuditResult.OK
            if status < 400
            else AuditResult.REFUSED
            if status in REFUSED
            else AuditResult.FAILED,
            status=status,
            permission=access.permission.value if access and access.permission else None,
            client=str(client[0])[:64] if client else None,
        )

    @staticmethod
    def _route(scope: Scope) -> tuple[str | None, dict[str, Any]]:
        """The route's name and path parameters (none when the edge refused before routing)."""
        route = scope.get("route")
        if route is None:
            return None, {}
        return getattr(route, "name", None), dict(scope.get("path_params") or {})


def _text(value: str, limit: int) -> str:
    """What every database can store: no NUL, no lone surrogate (a path or a tag name may hold them)."""
    return value[:limit].encode("utf-8", "replace").decode().replace("\x00", "?")


def _target(scope: Scope, path_params: dict[str, Any]) -> str | None:
    parts = [f"{PATH_TARGETS.get(key, key)}:{value}" for key, value in path_params.items()]
    if not parts:
        query = _query(scope)
        tag = next((query[p] for p in TAG_PARAMS if query.get(p)), None)
        if tag:
            parts.append(f"tag:{tag}")
    return ",".join(parts)[:MAX_TARGET] or None


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {k: v for k, v in parse_qsl(raw, keep_blank_values=False) if k in TAG_PARAMS}
