"""Who is calling the agents' endpoint: the name (and site) its token was issued to.

Separate from the API's callers (api/edge.py, api/access.py): agents and users hold different
credentials, and an agent's says which agent it is."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controlplane.agent_identity import AgentIdentity, identity_of
from controlplane.api.deps import ContextDep
from controlplane.auth.principal import ActorKind, Principal
from controlplane.errors import UnauthorizedError

_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="AgentToken",
    description="The agent's own token (`videorec-controlplane enrol-agent NAME --site SITE`), or the shared "
    "VIDEOREC_AGENT_TOKEN where no agent key is set",
)


# async: it does no I/O (one HMAC), and FastAPI would run a plain `def` in its thread pool, a hop that
# cost a heartbeat with nothing new a sizeable part of its time.
async def agent_identity(
    request: Request,
    ctx: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_scheme)],
) -> AgentIdentity | None:
    """The agent's identity when tokens are per agent; None with one shared token (or none, on loopback)."""
    given = credentials.credentials if credentials else ""
    settings = ctx.settings
    if settings.agents_key is not None:
        identity = identity_of(settings.agents_key.get_secret_value(), given)
        if identity is None:
            raise UnauthorizedError("a valid agent token is required")
        # Who the audit trail names should this agent's heartbeat be refused (another site's name).
        request.state.principal = Principal(ActorKind.AGENT, identity.name, None)
        return identity
    if settings.agent_token is not None and not secrets.compare_digest(
        given.encode(), settings.agent_token.get_secret_value().encode()
    ):
        raise UnauthorizedError("a valid agent token is required")
    return None


AgentIdentityDep = Annotated[AgentIdentity | None, Depends(agent_identity)]
