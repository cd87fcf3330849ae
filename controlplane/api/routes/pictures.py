"""/api/v1/source/{id}/picture and /video: a camera's picture now, through its agent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from controlplane.api.access import Requires
from controlplane.api.deps import ContextDep, ObjectId, SessionDep
from controlplane.auth.roles import Permission
from controlplane.services import pictures

router = APIRouter(
    prefix="/source",
    tags=["sources"],
    responses={
        404: {"description": "no such source"},
        502: {"description": "the camera did not give a picture"},
        503: {"description": "no agent can reach it"},
    },
)
NO_CACHE = {"Cache-Control": "no-store"}


@router.get(
    "/{source_id}/picture",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    dependencies=[Requires(Permission.SNAPSHOT)],
)
async def source_picture(ctx: ContextDep, session: SessionDep, source_id: ObjectId) -> Response:
    jpeg = await pictures.snapshot(ctx, session, source_id)
    return Response(jpeg, media_type="image/jpeg", headers=NO_CACHE)


@router.get(
    "/{source_id}/video",
    response_class=StreamingResponse,
    responses={200: {"content": {pictures.MJPEG_MEDIA_TYPE: {}}}},
    dependencies=[Requires(Permission.LIVE)],
)
async def source_video(
    ctx: ContextDep,
    session: SessionDep,
    source_id: ObjectId,
    delay: Annotated[float, Query(gt=0, le=3600, description="Seconds between frames")] = 1.0,
) -> StreamingResponse:
    parts = await pictures.live(ctx, session, source_id, delay)
    return StreamingResponse(parts, media_type=pictures.MJPEG_MEDIA_TYPE, headers=NO_CACHE)
