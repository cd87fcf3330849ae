"""Collects the routers: /api/v1 and /test behind the optional bearer token, the agents' own
endpoint behind the agent token."""

from fastapi import APIRouter, Depends

from controlplane.api.deps import require_api_token
from controlplane.api.routes import agents, groups, pictures, records, selftest, sources, sync, tags

api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_token)])
api_router.include_router(sources.router)
api_router.include_router(pictures.router)
api_router.include_router(groups.router)
api_router.include_router(tags.router)
api_router.include_router(records.router)
api_router.include_router(agents.router)
api_router.include_router(sync.router)

selftest_router = APIRouter(dependencies=[Depends(require_api_token)])
selftest_router.include_router(selftest.router)

internal_router = agents.internal
