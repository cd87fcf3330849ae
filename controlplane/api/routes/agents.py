"""/api/v1/agent (what admins see) and the agents' own heartbeat endpoint."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Response

from controlplane.agent_identity import AgentIdentity
from controlplane.api.access import Requires
from controlplane.api.agent_auth import AgentIdentityDep
from controlplane.api.deps import ContextDep, SessionDep
from controlplane.auth.roles import Permission
from controlplane.context import AppContext
from controlplane.data import agents as agents_data
from controlplane.errors import SiteRefusedError
from controlplane.models.agent import AgentPublic
from controlplane.services import agents as agents_service
from controlplane.services import heartbeats
from shared.heartbeat import AGENT_NAME, HEARTBEAT_PATH, HeartbeatIn, HeartbeatOut

router = APIRouter(prefix="/agent", tags=["agents"])
internal = APIRouter(tags=["internal"])


@router.get("", response_model=list[AgentPublic], dependencies=[Requires(Permission.READ)])
async def list_agents(ctx: ContextDep, session: SessionDep) -> list[AgentPublic]:
    return [agents_service.public(a, ctx.settings) for a in await agents_data.list_all(session)]


@router.delete("/{name}", response_model=AgentPublic, dependencies=[Requires(Permission.MANAGE_AGENTS)])
async def revoke_agent(
    ctx: ContextDep, session: SessionDep, name: Annotated[str, Path(max_length=128, pattern=AGENT_NAME)]
) -> AgentPublic:
    """Revoke an agent: its token stops working on every replica, its sources move to other agents,
    and its running records are marked interrupted. The name cannot be enrolled again. Any name
    can be revoked, an enrolled one that never connected too."""
    agent = await agents_service.revoke(session, name)
    await session.commit()
    ctx.quiet.forget(name)  # other replicas learn it at their next flush, within half a second
    ctx.placement_wake.set()  # its sources go to other agents
    return agents_service.public(agent, ctx.settings)


@internal.post(
    HEARTBEAT_PATH,
    response_model=HeartbeatOut,
    responses={
        401: {"description": "Bad token"},
        403: {"description": "Not the agent's site"},
        503: {"description": "Overloaded or the database away: beat again after Retry-After"},
    },
)
async def heartbeat(ctx: ContextDep, beat: HeartbeatIn, who: AgentIdentityDep) -> HeartbeatOut | Response:
    return await _exchange(ctx, beat, who)


async def _exchange(ctx: AppContext, beat: HeartbeatIn, who: AgentIdentity | None) -> HeartbeatOut | Response:
    quiet = ctx.quiet.answer(beat, who)
    if isinstance(quiet, bytes):
        ctx.metrics.heartbeats_quiet.inc()
        # Nothing new: no database work now (its liveness is written in bulk), and an answer
        # serialised once for every agent.
        return Response(quiet, media_type="application/json")
    waited = ctx.lag.queue_s()
    if waited > ctx.settings.heartbeat_shed_queue_s:
        # More work than CPU: requests wait before they are handled. Queueing this one further would
        # make every beat late (and its agent look silent); refused now, its agent comes back after
        # Retry-After, and no replica fails agents over meanwhile (controlplane.placement.hold).
        ctx.lag.shed()
        ctx.metrics.heartbeats_shed.inc()
        retry_after = str(ctx.settings.overload_retry_after_s)
        return Response(
            b'{"detail":"the control plane is overloaded: beat again after Retry-After"}',
            status_code=503,
            media_type="application/json",
            headers={"Retry-After": retry_after},
        )
    ctx.metrics.heartbeats_full.labels(quiet).inc()
    started = time.monotonic()
    try:
        async with ctx.sessions() as session:
            try:
                answer = await heartbeats.heartbeat(session, ctx.settings, beat, who)
            except SiteRefusedError:
                ctx.metrics.agent_site_refusals.labels(beat.name).inc()
                raise
            await session.commit()
    finally:
        # A beat this replica was slow to answer is silence it made itself: its failover holds; and
        # while even the fastest such beat waits, the next ones are shed (above).
        ctx.lag.served(time.monotonic() - started)
    ctx.quiet.took(beat, who)
    return answer
