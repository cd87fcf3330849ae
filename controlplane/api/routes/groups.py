"""/api/v1/group: named sets of sources."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from controlplane import list_cache
from controlplane.api.access import AccessDep, Requires
from controlplane.api.deps import ContextDep, IfNoneMatch, Limit, ObjectId, Offset, SessionDep, body_or_query
from controlplane.api.lists import NOT_MODIFIED, not_modified
from controlplane.auth.roles import Permission
from controlplane.data import groups as groups_data
from controlplane.models.group import GroupCreate, GroupPublic, GroupWithSources
from controlplane.services import groups as groups_service

router = APIRouter(
    prefix="/group",
    tags=["groups"],
    responses={
        404: {"description": "no such group or source"},
        409: {"description": "conflicts with an existing group"},
    },
)


@router.get(
    "", response_model=list[GroupPublic], responses=NOT_MODIFIED, dependencies=[Requires(Permission.READ)]
)
async def list_groups(
    session: SessionDep,
    response: Response,
    offset: Offset = 0,
    limit: Limit = None,
    if_none_match: IfNoneMatch = None,
) -> Response | list[GroupPublic]:
    tag = await list_cache.current_tag(session, ("group",), offset, limit)
    if (unchanged := not_modified(tag, if_none_match, response)) is not None:
        return unchanged
    return [GroupPublic.of(row) for row in await groups_data.list_all(session, offset, limit)]


@router.post(
    "",
    response_model=GroupPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Requires(Permission.MANAGE_SOURCES)],
)
async def create_group(
    session: SessionDep, access: AccessDep, body: Annotated[GroupCreate, Depends(body_or_query(GroupCreate))]
) -> GroupPublic:
    row = await groups_service.create(session, body)
    await session.commit()
    access.target = f"group:{row.id}"
    return GroupPublic.of(row)


@router.get("/{group_id}", response_model=GroupWithSources, dependencies=[Requires(Permission.READ)])
async def get_group(ctx: ContextDep, session: SessionDep, group_id: ObjectId) -> GroupWithSources:
    return await groups_service.with_sources(session, ctx.settings, group_id)


@router.delete("/{group_id}", response_model=GroupPublic, dependencies=[Requires(Permission.MANAGE_SOURCES)])
async def delete_group(session: SessionDep, group_id: ObjectId) -> GroupPublic:
    row = await groups_service.delete(session, group_id)
    public = GroupPublic.of(row)
    await session.commit()
    return public


@router.post(
    "/{group_id}/source/{source_id}", response_model=bool, dependencies=[Requires(Permission.MANAGE_SOURCES)]
)
async def add_source_to_group(session: SessionDep, group_id: ObjectId, source_id: ObjectId) -> bool:
    added = await groups_service.add_source(session, group_id, source_id)
    await session.commit()
    return added


@router.delete(
    "/{group_id}/source/{source_id}", response_model=bool, dependencies=[Requires(Permission.MANAGE_SOURCES)]
)
async def remove_source_from_group(session: SessionDep, group_id: ObjectId, source_id: ObjectId) -> bool:
    removed = await groups_service.remove_source(session, group_id, source_id)
    await session.commit()
    return removed
