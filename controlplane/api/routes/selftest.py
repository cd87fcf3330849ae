"""/test/img and /test/video: pictures made by ffmpeg on an agent, proving both pipelines work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from controlplane.api.access import Requires
from controlplane.api.deps import ContextDep, SessionDep
from controlplane.auth.roles import Permission
from controlplane.services import pictures

router = APIRouter(
    prefix="/test",
    tags=["self-checks"],
    responses={
        502: {"description": "the agent could not make the picture"},
        503: {"description": "no agent is online"},
        504: {"description": "the agent did not answer in time"},
    },
)


@router.get(
    "/img",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    dependencies=[Requires(Permission.SNAPSHOT)],
)
async def test_img(ctx: ContextDep, session: SessionDep) -> Response:
    return Response(await pictures.test_image(ctx, session), media_type="image/jpeg")


@router.get(
    "/video",
    response_class=StreamingResponse,
    responses={200: {"content": {pictures.MJPEG_MEDIA_TYPE: {}}}},
    dependencies=[Requires(Permission.SNAPSHOT)],
)
async def test_video(
    ctx: ContextDep,
    session: SessionDep,
    frames: Annotated[int, Query(ge=1, le=300)] = 20,
    delay: Annotated[float, Query(gt=0, le=5)] = 0.1,
) -> StreamingResponse:
    parts = await pictures.test_video(ctx, session, frames, delay)
    return StreamingResponse(parts, media_type=pictures.MJPEG_MEDIA_TYPE)
