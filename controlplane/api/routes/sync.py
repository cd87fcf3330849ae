"""/api/v1/sync: copy a tag's finished records elsewhere; /api/v1/import: receive such copies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from controlplane.api.access import AccessDep, Requires
from controlplane.api.deps import ContextDep, SessionDep, body_or_query
from controlplane.auth.roles import Permission
from controlplane.data import sync_jobs
from controlplane.models.sync import SyncJobPublic, SyncStart
from controlplane.services import sync as sync_service
from shared.redact import redact_url

router = APIRouter(
    tags=["sync"],
    responses={
        404: {"description": "no such tag or sync job"},
        409: {"description": "an import whose record exists here with other content"},
        502: {"description": "the copy did not verify"},
        503: {"description": "no agent could take an import"},
    },
)


@router.post("/sync", response_model=str, dependencies=[Requires(Permission.SYNC)])
async def start_sync(
    ctx: ContextDep,
    session: SessionDep,
    access: AccessDep,
    body: Annotated[SyncStart, Depends(body_or_query(SyncStart))],
) -> str:
    access.target, access.detail = f"tag:{body.tag_name}", f"to {redact_url(body.location)}"
    job = await sync_service.start(ctx, session, body)
    return job.id


@router.get("/sync", response_model=list[SyncJobPublic], dependencies=[Requires(Permission.READ)])
async def list_sync_jobs(session: SessionDep) -> list[SyncJobPublic]:
    return [SyncJobPublic.of(job) for job in await sync_jobs.list_all(session)]


@router.get("/sync/{job_id}", response_model=SyncJobPublic, dependencies=[Requires(Permission.READ)])
async def get_sync_job(session: SessionDep, job_id: str) -> SyncJobPublic:
    return SyncJobPublic.of(await sync_jobs.get(session, job_id))


@router.post("/import", response_model=dict[str, str], dependencies=[Requires(Permission.IMPORT)])
async def import_record(
    ctx: ContextDep,
    session: SessionDep,
    request: Request,
    tag_name: Annotated[str, Query(min_length=1, max_length=200)],
    record_id: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
    hash_md5: Annotated[str, Query(pattern=r"^[0-9a-f]{32}$")],
    size: Annotated[int, Query(ge=0, le=2**62)],
    begin_utc: datetime | None = None,
    end_utc: datetime | None = None,
) -> dict[str, str]:
    """Another deployment's sync sends a record's bytes here (streamed, verified on our agent)."""
    row = await sync_service.import_copy(
        ctx, session, tag_name, record_id, hash_md5, size, begin_utc, end_utc, request.stream()
    )
    assert row.location and row.hash_md5
    return {"record_id": row.id, "location": row.location, "hash_md5": row.hash_md5}
