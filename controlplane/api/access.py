"""Authorization: each route declares the permission it needs, as a dependency.

    @router.delete("/{record_id}/file", dependencies=[Requires(Permission.DELETE_FILES)])

The caller (auth.principal.Principal) was recognised at the edge (api/edge.py); a role without the
permission gets 403 naming it. A route under /api/ or /test/ that declares none is for admins only
(`declared_permission`, on the routers), and the route-walk test fails on it.

What a request did is noted in its `Access` (request state), which the audit trail writes
(api/audit_trail.py): the permission it needed, and what a route knows better than its path (the tag
of a body, the id it created)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import fastapi.routing
from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controlplane.api.edge import PRINCIPAL
from controlplane.auth.principal import Principal
from controlplane.auth.roles import Permission, Role
from controlplane.errors import ForbiddenError, UnauthorizedError

ACCESS = "access"  # the request state's key of the Access


@dataclass
class Access:
    """The caller of one request and what the audit trail will say about it."""

    principal: Principal
    permission: Permission | None = None
    action: str | None = None  # default: the route's name
    target: str | None = None  # default: from the path's ids and the tag named in the query
    detail: str | None = None

    def require(self, permission: Permission) -> None:
        self.permission = permission
        if not self.principal.may(permission):
            role = self.principal.role.value if self.principal.role else "no role"
            raise ForbiddenError(f"permission {permission.value} is required (your role: {role})")


async def current_access(request: Request) -> Access:
    state = request.scope.setdefault("state", {})
    access = state.get(ACCESS)
    if access is None:
        principal = state.get(PRINCIPAL)
        if principal is None:
            raise UnauthorizedError("a valid bearer token is required")
        access = state[ACCESS] = Access(principal)
    assert isinstance(access, Access)
    return access


AccessDep = Annotated[Access, Depends(current_access)]


def Requires(permission: Permission) -> Any:  # noqa: N802 (reads as a declaration, like Depends)
    """The dependency a route declares its permission with."""

    async def require(access: AccessDep) -> None:
        access.require(permission)

    require.__permission__ = permission  # type: ignore[attr-defined]
    require.__name__ = f"requires_{permission.value}"
    return Depends(require)


def permission_of(route: Any) -> Permission | None:
    """The permission a route declares in its own `dependencies` (None: it declares none)."""
    for depends in getattr(route, "dependencies", None) or []:
        permission = getattr(getattr(depends, "dependency", None), "__permission__", None)
        if isinstance(permission, Permission):
            return permission
    return None


# Documents the bearer scheme in /openapi.json (the "Authorize" button of /docs); the edge checks it.
_bearer = HTTPBearer(
    auto_error=False,
    description="VIDEOREC_API_TOKEN (the bootstrap admin), a user's key (`videorec-controlplane user add`) or "
    "a JWT of the site's single sign-on, when the service has authentication",
)


async def declared_permission(
    request: Request,
    access: AccessDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """On the routers: a route that declares no permission is for admins only (fail closed)."""
    route = request.scope.get("route")
    if route is not None and permission_of(route) is None and access.principal.role is not Role.ADMIN:
        raise ForbiddenError("this route declares no permission: admins only")


def document_permissions(app: FastAPI) -> None:
    """Show each route's permission in /openapi.json: `x-permission` on its operation, and its 403."""
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = plain_openapi()
        for (method, path), permission in _declared(app).items():
            operation = schema.get("paths", {}).get(path, {}).get(method.lower())
            if operation is None or "x-permission" in operation:
                continue
            operation["x-permission"] = permission.value
            operation.setdefault("responses", {})["403"] = {
                "description": f"the caller's role does not hold the permission {permission.value}"
            }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _declared(app: FastAPI) -> dict[tuple[str, str], Permission]:
    """(method, path) → permission of every route that declares one."""
    declared = {}
    for route, path in _routes(app):
        permission = permission_of(route)
        if permission is not None and path:
            for method in getattr(route, "methods", None) or ():
                declared[(method, path)] = permission
    return declared


def _routes(app: FastAPI) -> list[tuple[Any, str | None]]:
    """The app's routes with their full paths. FastAPI 0.16x keeps included routers as branches
    (iter_route_contexts flattens them); older ones copy every route into app.routes."""
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_contexts is None:
        return [(route, getattr(route, "path", None)) for route in app.routes]
    return [(context.original_route, context.path) for context in iter_contexts(app.routes)]
