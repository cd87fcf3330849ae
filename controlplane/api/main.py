"""Collects the routers: /api/v1 and /test behind the optional bearer token, the agents' own
endpoint behind the agent token."""

from typing import Any

from fastapi import APIRouter, Depends

from controlplane.api.deps import require_api_token
from controlplane.api.routes import agents, groups, live, pictures, records, selftest, sources, sync, tags

# Answers every route may give, documented once (schemathesis and clients read them from OpenAPI).
EDGE_ANSWERS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong bearer token (when the service has one)"},
    403: {"description": "local mode: a non-loopback Host or a cross-origin write"},
    413: {"description": "request body too large"},
}
api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_token)], responses=EDGE_ANSWERS)
api_router.include_router(sources.router)
api_router.include_router(pictures.router)
api_router.include_router(live.router)
api_router.include_router(groups.router)
api_router.include_router(tags.router)
api_router.include_router(tags.listing)
api_router.include_router(records.router)
api_router.include_router(agents.router)
api_router.include_router(sync.router)

selftest_router = APIRouter(dependencies=[Depends(require_api_token)], responses=EDGE_ANSWERS)
selftest_router.include_router(selftest.router)

internal_router = agents.internal
# The console's live WebSocket: opened with a ticket, as browsers cannot send the bearer token on it.
live_ws_router = live.ws_router
