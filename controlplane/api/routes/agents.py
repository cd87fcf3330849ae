"""/api/v1/agent (what admins see) and the agents' own heartbeat endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from controlplane.api.access import Requires
from controlplane.api.agent_auth import AgentIdentityDep
from controlplane.api.deps import ContextDep, SessionDep
from controlplane.auth.roles import Permission
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
    return agents_service.public(agent, ctx.settings)


@internal.post(
    HEARTBEAT_PATH,
    response_model=HeartbeatOut,
    responses={401: {"description": "Bad token"}, 403: {"description": "Not the agent's site"}},
)
async def heartbeat(
    ctx: ContextDep, session: SessionDep, beat: HeartbeatIn, who: AgentIdentityDep
) -> HeartbeatOut:
    try:
        answer = await heartbeats.heartbeat(session, ctx.settings, beat, who)
    except SiteRefusedError:
        ctx.metrics.agent_site_refusals.labels(beat.name).inc()
        raise
    await session.commit()
    return answer
