"""/api/v1/record: start and stop a tag, read records, play and delete their files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.background import BackgroundTask

from controlplane import list_cache
from controlplane.api.access import AccessDep, Requires
from controlplane.api.deps import (
    ContextDep,
    IfNoneMatch,
    Limit,
    Offset,
    RecordId,
    SessionDep,
    TagName,
    body_or_query,
)
from controlplane.api.lists import NOT_MODIFIED, not_modified
from controlplane.auth.roles import Permission
from controlplane.data import records as records_data
from controlplane.data import tags as tags_data
from controlplane.models.record import RecordPublic, RecordStart, RecordStop
from controlplane.services import media_urls, playback, recording
from controlplane.services import tags as tags_service
from controlplane.services.media_urls import MediaUrl
from shared.ranges import RangeNotSatisfiable
from shared.redact import redact_url

router = APIRouter(
    prefix="/record",
    tags=["records"],
    responses={
        404: {"description": "no such tag or record"},
        409: {"description": "the tag is already recording or stopping"},
        502: {"description": "the agent could not read the file"},
        503: {"description": "the agent holding the file is offline"},
        504: {"description": "the agent did not answer in time"},
    },
)


@router.post("", response_model=None, status_code=200, dependencies=[Requires(Permission.RECORD)])
async def start_recording(
    ctx: ContextDep,
    session: SessionDep,
    access: AccessDep,
    body: Annotated[RecordStart, Depends(body_or_query(RecordStart))],
) -> None:
    access.target, access.detail = f"tag:{body.tag_name}", f"group {body.group_name}"
    await recording.start(ctx, session, body.tag_name, body.group_name, body.model)


@router.put(
    "",
    response_model=None,
    responses={202: {"description": "an agent is unreachable; finished later"}},
    dependencies=[Requires(Permission.RECORD)],
)
async def stop_recording(
    ctx: ContextDep,
    session: SessionDep,
    access: AccessDep,
    body: Annotated[RecordStop, Depends(body_or_query(RecordStop))],
) -> Response:
    access.target = f"tag:{body.tag_name}"
    done = await recording.stop(ctx, session, body.tag_name, body.model)
    return JSONResponse(None, status_code=200 if done else 202)


@router.get(
    "", response_model=list[RecordPublic], responses=NOT_MODIFIED, dependencies=[Requires(Permission.READ)]
)
async def list_records(
    session: SessionDep,
    response: Response,
    tag_name: TagName,
    offset: Offset = 0,
    limit: Limit = None,
    if_none_match: IfNoneMatch = None,
) -> Response | list[RecordPublic]:
    # Each record shows its source as stored.
    etag = await list_cache.current_tag(session, ("tag", "record", "source"), tag_name, offset, limit)
    tag = await tags_service.get_tag(session, tag_name)  # an unknown tag is a 404, whatever the ETag
    if (unchanged := not_modified(etag, if_none_match, response)) is not None:
        return unchanged
    assert tag.id is not None
    rows = await records_data.of_tag(session, tag.id, offset=offset, limit=limit)
    return await tags_service.records_public(session, tag.name, rows)


# The seed's spelling stays for the clients written against it; /running is the same route under
# its right name, both in the API's description so a new client finds the one it expects.
@router.get(
    "/runing",
    response_model=bool,
    summary="Is the tag recording? (the seed's spelling, kept)",
    dependencies=[Requires(Permission.READ)],
)
@router.get(
    "/running", response_model=bool, summary="Is the tag recording?", dependencies=[Requires(Permission.READ)]
)
async def tag_is_recording(session: SessionDep, tag_name: TagName) -> bool:
    """True while any record of the tag is recording, else false (an unknown tag too)."""
    return await recording.running(session, tag_name)


@router.get("/{record_id}", response_model=RecordPublic, dependencies=[Requires(Permission.READ)])
async def get_record(session: SessionDep, record_id: RecordId) -> RecordPublic:
    row = await records_data.get(session, record_id)
    tag = await tags_data.by_id(session, row.tag_id)
    (public,) = await tags_service.records_public(session, tag.name, [row])
    return public


@router.get(
    "/{record_id}/video",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"video/mp4": {}}},
        206: {"description": "a byte range"},
        304: {"description": "If-None-Match named the completed record's ETag (its MD5)"},
        307: {
            "description": "the file on its agent's HTTP port, at a short-lived signed URL (Location): "
            "with ?redirect=1, with VIDEOREC_MEDIA_REDIRECT, or when the agent has a public URL "
            "(VIDEOREC_AGENT_PUBLIC_URL; ?redirect=0 asks for the bytes through here instead); the "
            "agent answers Range, If-Range and ETag",
            "headers": {"Location": {"schema": {"type": "string"}, "description": "the signed URL"}},
        },
        416: {},
    },
    dependencies=[Requires(Permission.DOWNLOAD)],
)
async def record_video(
    ctx: ContextDep,
    session: SessionDep,
    request: Request,
    record_id: RecordId,
    redirect: Annotated[
        bool | None,
        Query(
            description="1: answer 307 to the agent's signed URL; 0: send the bytes through the control "
            "plane; unset: redirect when configured or when the agent has a public URL"
        ),
    ] = None,
) -> Response:
    try:
        answer = await playback.video(ctx, session, record_id, request.headers, redirect)
    except RangeNotSatisfiable as exc:
        headers = {"Content-Range": f"bytes */{exc.size}", "Accept-Ranges": "bytes"}
        return Response(status_code=416, headers=headers)
    if isinstance(answer, playback.Redirect):
        # The URL expires: a client must come back here for a new one, not reuse this answer.
        return RedirectResponse(answer.url, status_code=307, headers={"Cache-Control": "no-store"})
    # Nothing of the database is needed while the bytes flow: give its connection back first.
    await session.close()
    background = BackgroundTask(answer.close) if answer.close is not None else None
    return StreamingResponse(
        answer.body, status_code=answer.status_code, headers=answer.headers, background=background
    )


@router.get("/{record_id}/video_url", response_model=MediaUrl, dependencies=[Requires(Permission.DOWNLOAD)])
async def record_video_url(ctx: ContextDep, session: SessionDep, record_id: RecordId) -> Response:
    """A short-lived URL to read the file straight from its agent (a browser's `<video src>`)."""
    direct = await media_urls.required(ctx, session, record_id)
    return JSONResponse(direct.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@router.delete(
    "/{record_id}/file", response_model=RecordPublic, dependencies=[Requires(Permission.DELETE_FILES)]
)
async def delete_record_file(
    ctx: ContextDep,
    session: SessionDep,
    access: AccessDep,
    record_id: RecordId,
    location: Annotated[str, Query(min_length=1, max_length=4096)],
) -> RecordPublic:
    access.detail = redact_url(location)
    row = await playback.delete_file(ctx, session, record_id, location)
    await session.commit()
    tag = await tags_data.by_id(session, row.tag_id)
    (public,) = await tags_service.records_public(session, tag.name, [row])
    return public
