"""/api/v1/agent (what admins see) and the agents' own heartbeat endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from controlplane.api.deps import ContextDep, SessionDep, require_agent_token
from controlplane.data import agents as agents_data
from controlplane.models.agent import AgentPublic
from controlplane.services import agents as agents_service
from shared.heartbeat import HEARTBEAT_PATH, HeartbeatIn, HeartbeatOut

router = APIRouter(prefix="/agent", tags=["agents"])
internal = APIRouter(tags=["internal"])


@router.get("", response_model=list[AgentPublic])
async def list_agents(ctx: ContextDep, session: SessionDep) -> list[AgentPublic]:
    return [agents_service.public(a, ctx.settings) for a in await agents_data.list_all(session)]


@internal.post(HEARTBEAT_PATH, response_model=HeartbeatOut, dependencies=[Depends(require_agent_token)])
async def heartbeat(ctx: ContextDep, session: SessionDep, beat: HeartbeatIn) -> HeartbeatOut:
    answer = await agents_service.heartbeat(session, ctx.settings, beat)
    await session.commit()
    return answer
