"""The live WebSocket's entries in the audit trail. The HTTP middleware (api/audit_trail.py) writes the
ticket's request; a WebSocket is not an HTTP request, so its refusals and the cameras it was opened
on are written here: a refused ticket (anonymous), and each source a wall views (once per wall)."""

from __future__ import annotations

import logging

from starlette.websockets import WebSocket

from controlplane.auth.principal import ActorKind, Principal
from controlplane.auth.roles import Permission
from controlplane.context import AppContext
from controlplane.db import utcnow
from controlplane.models.audit import AuditEntry, AuditResult
from controlplane.services import audit

log = logging.getLogger(__name__)
ACTION = "live_ws"


async def refused(ctx: AppContext, websocket: WebSocket) -> None:
    await _write(ctx, websocket, None, None, AuditResult.REFUSED, 403)


async def viewed(ctx: AppContext, websocket: WebSocket, principal: Principal, source_id: int) -> None:
    await _write(ctx, websocket, principal, f"source:{source_id}", AuditResult.OK, 101)


async def _write(
    ctx: AppContext,
    websocket: WebSocket,
    who: Principal | None,
    target: str | None,
    result: AuditResult,
    status: int,
) -> None:
    client = websocket.client
    entry = AuditEntry(
        time_utc=utcnow(),
        actor_kind=who.kind if who else ActorKind.ANONYMOUS,
        actor=who.name if who else None,
        role=who.role.value if who and who.role else None,
        action=ACTION,
        target=target,
        result=result,
        status=status,
        permission=Permission.LIVE.value,
        client=client.host[:64] if client else None,
    )
    try:
        await audit.write(ctx.sessions, entry)
    except Exception as exc:  # as the HTTP trail: the view goes on, the failure is logged and counted
        ctx.metrics.audit_write_failures.inc()
        log.error("audit entry not written (%s): %s %s", type(exc).__name__, entry.actor, ACTION)
