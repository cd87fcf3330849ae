"""/api/v1/tag: recording sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from controlplane.api.deps import SessionDep
from controlplane.models.tag import TagPublic
from controlplane.services import tags as tags_service

router = APIRouter(prefix="/tag", tags=["tags"])


@router.get("", response_model=TagPublic)
async def get_tag(session: SessionDep, name: Annotated[str, Query(min_length=1)]) -> TagPublic:
    return await tags_service.tag_public(session, name)


@router.get("/begin", response_model=list[str])
async def tags_recording_now(session: SessionDep) -> list[str]:
    return await tags_service.recording_now(session)
