"""The caller of a request, as the audit trail names it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from controlplane.auth.roles import Permission, Role, holds


class ActorKind(StrEnum):
    USER = "user"  # a user's API key (`videorec-controlplane user add`)
    TOKEN = "token"  # noqa: S105 (a kind of caller, not a secret): VIDEOREC_API_TOKEN, the bootstrap admin
    SSO = "sso"  # a JWT of the site's OIDC issuer
    LOCAL = "local"  # no authentication configured: loopback only, everyone is admin
    AGENT = "agent"  # a recorder agent (its heartbeats)
    CLI = "cli"  # a command run on the control plane's host (user add / remove)
    ANONYMOUS = "anonymous"  # refused before anyone was recognised


@dataclass(frozen=True)
class Principal:
    kind: ActorKind
    name: str | None
    role: Role | None  # None: recognised (an SSO token without a role claim) but allowed nothing

    def may(self, permission: Permission) -> bool:
        return holds(self.role, permission)


LOCAL = Principal(ActorKind.LOCAL, "local", Role.ADMIN)
BOOTSTRAP = Principal(ActorKind.TOKEN, "api-token", Role.ADMIN)
