"""/api/v1/tag: recording sessions."""

from __future__ import annotations

from fastapi import APIRouter

from controlplane.api.deps import SessionDep, TagName
from controlplane.models.tag import TagPublic, TagUpdate
from controlplane.services import tags as tags_service

router = APIRouter(prefix="/tag", tags=["tags"], responses={404: {"description": "no such tag"}})


@router.get("", response_model=TagPublic)
async def get_tag(session: SessionDep, name: TagName) -> TagPublic:
    return await tags_service.tag_public(session, name)


@router.put("", response_model=TagPublic)
async def update_tag(session: SessionDep, name: TagName, body: TagUpdate) -> TagPublic:
    await tags_service.set_protected(session, name, body.protected)
    await session.commit()
    return await tags_service.tag_public(session, name)


@router.get("/begin", response_model=list[str])
async def tags_recording_now(session: SessionDep) -> list[str]:
    return await tags_service.recording_now(session)
