"""/api/v1/source: camera inputs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from pydantic import TypeAdapter

from controlplane.api.deps import ContextDep, ObjectId, SessionDep, body_or_query
from controlplane.data import sources as sources_data
from controlplane.models.source import SourceCreate, SourcePublic, SourceUpdate
from controlplane.services import sources as sources_service

router = APIRouter(
    prefix="/source",
    tags=["sources"],
    responses={404: {"description": "no such source"}, 409: {"description": "the source is recording"}},
)


_SOURCE_LIST = TypeAdapter(list[SourcePublic])


@router.get("", response_model=list[SourcePublic])
async def list_sources(ctx: ContextDep, session: SessionDep) -> Response:
    rows = await sources_service.public(session, ctx.settings, await sources_data.list_all(session))
    # Serialised once, here: FastAPI would validate the thousand models again before dumping them.
    return Response(_SOURCE_LIST.dump_json(rows), media_type="application/json")


@router.post("", response_model=SourcePublic, status_code=status.HTTP_201_CREATED)
async def create_source(
    ctx: ContextDep, session: SessionDep, body: Annotated[SourceCreate, Depends(body_or_query(SourceCreate))]
) -> SourcePublic:
    row = await sources_service.create(session, ctx.settings, body)
    await session.commit()
    return SourcePublic.of(row)


@router.get("/{source_id}", response_model=SourcePublic)
async def get_source(ctx: ContextDep, session: SessionDep, source_id: ObjectId) -> SourcePublic:
    (public,) = await sources_service.public(
        session, ctx.settings, [await sources_data.get(session, source_id)]
    )
    return public


@router.put("/{source_id}", response_model=SourcePublic)
async def update_source(
    ctx: ContextDep,
    session: SessionDep,
    source_id: ObjectId,
    body: Annotated[SourceUpdate, Depends(body_or_query(SourceUpdate))],
) -> SourcePublic:
    row = await sources_service.update(session, ctx.settings, source_id, body)
    await session.commit()
    return SourcePublic.of(row)


@router.delete("/{source_id}", response_model=SourcePublic)
async def delete_source(session: SessionDep, source_id: ObjectId) -> SourcePublic:
    row = await sources_service.delete(session, source_id)
    public = SourcePublic.of(row)
    await session.commit()
    return public
