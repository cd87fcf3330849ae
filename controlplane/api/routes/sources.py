"""/api/v1/source: camera inputs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from controlplane.api.access import AccessDep, Requires
from controlplane.api.deps import (
    ContextDep,
    IfNoneMatch,
    Limit,
    ObjectId,
    Offset,
    SessionDep,
    body_list,
    body_or_query,
)
from controlplane.api.lists import NOT_MODIFIED, list_answer
from controlplane.auth.roles import Permission
from controlplane.data import sources as sources_data
from controlplane.models.source import SourceCreate, SourcePublic, SourceUpdate
from controlplane.services import source_list
from controlplane.services import sources as sources_service

router = APIRouter(
    prefix="/source",
    tags=["sources"],
    responses={404: {"description": "no such source"}, 409: {"description": "the source is recording"}},
)


@router.get(
    "",
    response_model=list[SourcePublic],  # documents the answer; the body is serialised by the service
    responses=NOT_MODIFIED,
    dependencies=[Requires(Permission.READ)],
)
async def list_sources(
    ctx: ContextDep,
    session: SessionDep,
    offset: Offset = 0,
    limit: Limit = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    page = await source_list.page(
        session, ctx.settings, ctx.lists, offset=offset, limit=limit, if_none_match=if_none_match
    )
    return list_answer(page)


@router.post(
    "",
    response_model=SourcePublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Requires(Permission.MANAGE_SOURCES)],
)
async def create_source(
    ctx: ContextDep,
    session: SessionDep,
    access: AccessDep,
    body: Annotated[SourceCreate, Depends(body_or_query(SourceCreate))],
) -> SourcePublic:
    row = await sources_service.create(session, ctx.settings, body)
    await session.commit()
    access.target = f"source:{row.id}"
    ctx.placement_wake.set()  # placed by this replica's loop now, not at its next look
    return SourcePublic.of(row)


@router.post(
    "/batch",
    response_model=list[SourcePublic],
    status_code=status.HTTP_201_CREATED,
    dependencies=[Requires(Permission.MANAGE_SOURCES)],
)
async def create_sources(
    ctx: ContextDep,
    session: SessionDep,
    access: AccessDep,
    body: Annotated[list[SourceCreate], Depends(body_list(SourceCreate, sources_service.MAX_BATCH))],
) -> list[SourcePublic]:
    """Add up to MAX_BATCH sources at once, all or none: one invalid item is a 422 naming it
    (`["body", index, field]`) and nothing is added. Answers the created sources in order."""
    rows = await sources_service.create_many(session, ctx.settings, body)
    await session.commit()
    access.target = f"source:{rows[0].id}..{rows[-1].id}"
    ctx.placement_wake.set()
    return [SourcePublic.of(row) for row in rows]


@router.get("/{source_id}", response_model=SourcePublic, dependencies=[Requires(Permission.READ)])
async def get_source(ctx: ContextDep, session: SessionDep, source_id: ObjectId) -> SourcePublic:
    (public,) = await sources_service.public(
        session, ctx.settings, [await sources_data.get(session, source_id)]
    )
    return public


@router.put("/{source_id}", response_model=SourcePublic, dependencies=[Requires(Permission.MANAGE_SOURCES)])
async def update_source(
    ctx: ContextDep,
    session: SessionDep,
    source_id: ObjectId,
    body: Annotated[SourceUpdate, Depends(body_or_query(SourceUpdate))],
) -> SourcePublic:
    row = await sources_service.update(session, ctx.settings, source_id, body)
    await session.commit()
    ctx.placement_wake.set()  # a new site unplaces it
    return SourcePublic.of(row)


@router.delete(
    "/{source_id}", response_model=SourcePublic, dependencies=[Requires(Permission.MANAGE_SOURCES)]
)
async def delete_source(session: SessionDep, source_id: ObjectId) -> SourcePublic:
    row = await sources_service.delete(session, source_id)
    public = SourcePublic.of(row)
    await session.commit()
    return public
