"""/healthz, /readyz and /metrics: for probes and scrapers, so outside the API's bearer token; they
answer nothing a camera or a token could be read from."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from controlplane.api.deps import ContextDep, SessionDep
from controlplane.services.health import readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving (restart it when this fails)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready: the failed checks with reasons"}})
async def readyz(ctx: ContextDep) -> JSONResponse:
    """The database answers and its schema is this code's (send it traffic only then)."""
    problems = await readiness(ctx.engine)
    if problems:
        return JSONResponse({"status": "unready", "checks": problems}, status_code=503)
    return JSONResponse({"status": "ready", "checks": {}})


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(ctx: ContextDep, session: SessionDep) -> Response:
    """Prometheus text format."""
    await ctx.metrics.refresh(session, ctx.settings)
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
