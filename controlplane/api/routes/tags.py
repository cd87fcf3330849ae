"""/api/v1/tag: recording sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from controlplane import list_cache
from controlplane.api.access import AccessDep, Requires
from controlplane.api.deps import IfNoneMatch, Offset, SessionDep, TagName
from controlplane.api.lists import NOT_MODIFIED, not_modified
from controlplane.auth.roles import Permission
from controlplane.models.tag import TagPublic, TagSummary, TagUpdate
from controlplane.services import tags as tags_service

router = APIRouter(prefix="/tag", tags=["tags"], responses={404: {"description": "no such tag"}})


@router.get("", response_model=TagPublic, dependencies=[Requires(Permission.READ)])
async def get_tag(session: SessionDep, name: TagName) -> TagPublic:
    return await tags_service.tag_public(session, name)


@router.put("", response_model=TagPublic, dependencies=[Requires(Permission.PROTECT_TAG)])
async def update_tag(session: SessionDep, access: AccessDep, name: TagName, body: TagUpdate) -> TagPublic:
    """Protect a tag (operators) or unprotect it (admins only: its records become evictable)."""
    access.action = "protect_tag" if body.protected else "unprotect_tag"
    if not body.protected:
        access.require(Permission.UNPROTECT_TAG)
    await tags_service.set_protected(session, name, body.protected)
    await session.commit()
    return await tags_service.tag_public(session, name)


@router.get("/begin", response_model=list[str], dependencies=[Requires(Permission.READ)])
async def tags_recording_now(session: SessionDep) -> list[str]:
    return await tags_service.recording_now(session)


# /tags beside /tag: GET /tag?name= answers one tag with its records (the SPEC's shape), this the list.
listing = APIRouter(tags=["tags"])


@listing.get(
    "/tags",
    response_model=list[TagSummary],
    summary="List tags, newest first",
    responses=NOT_MODIFIED,
    dependencies=[Requires(Permission.READ)],
)
async def list_tags(
    session: SessionDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
    if_none_match: IfNoneMatch = None,
) -> Response | list[TagSummary]:
    # `recording` comes from the tags' records.
    tag = await list_cache.current_tag(session, ("tag", "record"), limit, offset)
    if (unchanged := not_modified(tag, if_none_match, response)) is not None:
        return unchanged
    return await tags_service.summaries(session, limit, offset)
