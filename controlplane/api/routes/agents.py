"""/api/v1/agent (what admins see) and the agents' own heartbeat endpoint."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controlplane.api.deps import ContextDep, SessionDep
from controlplane.data import agents as agents_data
from controlplane.errors import UnauthorizedError
from controlplane.models.agent import AgentPublic
from controlplane.services import agents as agents_service
from shared.heartbeat import HEARTBEAT_PATH, HeartbeatIn, HeartbeatOut

router = APIRouter(prefix="/agent", tags=["agents"])
internal = APIRouter(tags=["internal"])
_bearer = HTTPBearer(auto_error=False, description="VIDEOREC_AGENT_TOKEN, shared by agents")


@router.get("", response_model=list[AgentPublic])
async def list_agents(ctx: ContextDep, session: SessionDep) -> list[AgentPublic]:
    return [agents_service.public(a, ctx.settings) for a in await agents_data.list_all(session)]


def require_agent_token(
    ctx: ContextDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    expected = ctx.settings.agent_token
    if expected is None:
        return
    given = credentials.credentials if credentials else ""
    if not secrets.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise UnauthorizedError("a valid agent token is required")


@internal.post(HEARTBEAT_PATH, response_model=HeartbeatOut, dependencies=[Depends(require_agent_token)])
async def heartbeat(ctx: ContextDep, session: SessionDep, beat: HeartbeatIn) -> HeartbeatOut:
    answer = await agents_service.heartbeat(session, ctx.settings, beat)
    await session.commit()
    return answer
