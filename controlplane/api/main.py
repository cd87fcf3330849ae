"""Collects the routers: /api/v1 and /test behind authentication (the edge) and each route's
permission (api/access.py), the agents' own endpoint behind the agent token."""

from typing import Any

from fastapi import APIRouter, Depends

from controlplane.api.access import declared_permission
from controlplane.api.routes import (
    agents,
    audit,
    groups,
    live,
    pictures,
    records,
    selftest,
    session,
    sources,
    sync,
    tags,
)

# Answers every route may give, documented once (schemathesis and clients read them from OpenAPI).
EDGE_ANSWERS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong bearer token (when the service has authentication)"},
    403: {
        "description": "the caller's role lacks the route's permission; local mode: a non-loopback Host or a cross-origin write"
    },
    413: {"description": "request body too large"},
}
api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(declared_permission)], responses=EDGE_ANSWERS)
api_router.include_router(sources.router)
api_router.include_router(pictures.router)
api_router.include_router(live.router)
api_router.include_router(groups.router)
api_router.include_router(tags.router)
api_router.include_router(tags.listing)
api_router.include_router(records.router)
api_router.include_router(agents.router)
api_router.include_router(sync.router)
api_router.include_router(audit.router)
api_router.include_router(session.router)

selftest_router = APIRouter(dependencies=[Depends(declared_permission)], responses=EDGE_ANSWERS)
selftest_router.include_router(selftest.router)

internal_router = agents.internal
# The console's live WebSocket: opened with a ticket, as browsers cannot send the bearer token on it.
live_ws_router = live.ws_router
