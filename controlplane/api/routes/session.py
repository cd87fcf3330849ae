"""/api/v1/me: who the caller is and what their role may do (the console shows it and hides the rest)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from controlplane.api.access import AccessDep, Requires
from controlplane.api.deps import ContextDep
from controlplane.auth.principal import ActorKind
from controlplane.auth.roles import Permission, Role, permissions_of

router = APIRouter(tags=["session"])


class Me(BaseModel):
    kind: ActorKind = Field(
        description="user (a key), token (the bootstrap admin), sso, or local (no authentication)"
    )
    name: str | None
    role: Role | None
    permissions: list[Permission] = Field(description="what this role may do (auth/roles.py's table)")
    authentication: bool = Field(description="false: the service is open to loopback and everyone is admin")


@router.get("/me", response_model=Me, dependencies=[Requires(Permission.READ)])
async def me(ctx: ContextDep, access: AccessDep) -> Me:
    who = access.principal
    return Me(
        kind=who.kind,
        name=who.name,
        role=who.role,
        permissions=permissions_of(who.role),
        authentication=ctx.settings.authenticates(),
    )
