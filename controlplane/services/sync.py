"""Starting sync jobs, importing copies from other deployments, and deleting synced copies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.context import AppContext
from controlplane.data import records as records_data
from controlplane.data import sync_jobs
from controlplane.data import tags as tags_data
from controlplane.destinations.locations import holder_of, links_of, parse_location
from controlplane.errors import ConflictError, CopyVerificationError
from controlplane.models import Record
from controlplane.models.sync import SyncJob, SyncStart
from controlplane.services import agents as agents_service
from controlplane.services.tags import get_tag
from shared.enums import RecordStatus
from shared.names import safe_tag
from shared.rpc import agent_pb2 as pb


async def start(ctx: AppContext, session: AsyncSession, body: SyncStart) -> SyncJob:
    parse_location(body.location, ctx.settings, links_of(ctx))  # 422 before anything is stored or sent
    await get_tag(session, body.tag_name)
    job = await sync_jobs.add(
        session, SyncJob(tag_name=body.tag_name, location=body.location, bandwidth_bps=body.bandwidth_bps)
    )
    await session.commit()
    ctx.sync_wake.set()
    return job


async def import_copy(
    ctx: AppContext,
    session: AsyncSession,
    tag_name: str,
    record_id: str,
    hash_md5: str,
    size: int,
    begin_utc: datetime | None,
    end_utc: datetime | None,
    body: AsyncIterator[bytes],
) -> Record:
    """Another deployment sends one of its records: keep it on one of our agents, verified."""
    existing = await records_data.by_ids(session, {record_id})
    if record_id in existing:
        row = existing[record_id]
        if row.hash_md5 == hash_md5 and row.status == RecordStatus.COMPLETED:
            return row  # the same copy again: nothing to do
        raise ConflictError(f"record {record_id} exists here with other content")
    agent = await agents_service.any_online_agent(session, ctx.settings)
    await session.commit()
    header = pb.WriteFileHeader(
        record_id=record_id, path=f"import/{safe_tag(tag_name)}", size=size, hash_md5=hash_md5
    )
    result = await ctx.agents.client(agent).write_file(header, body, 60 + size / 1e6)
    if result.hash_md5 != hash_md5:
        raise CopyVerificationError(f"imported copy of {record_id} hashed to {result.hash_md5}")
    tag = await tags_data.get_or_create(session, tag_name)
    assert tag.id is not None
    row = await records_data.add(
        session,
        Record(
            id=record_id,
            tag_id=tag.id,
            status=RecordStatus.COMPLETED,
            begin_utc=begin_utc,
            end_utc=end_utc,
            hash_md5=result.hash_md5,
            size_bytes=result.size,
            location=result.location,
            agent_name=agent.name,
        ),
    )
    await session.commit()
    return row


async def delete_copy(ctx: AppContext, session: AsyncSession, row: Record) -> None:
    """Delete the record's synced copy wherever it is; sync_location is cleared by the caller."""
    assert row.sync_location is not None
    del session  # the destination looks agents up in a session of its own
    await holder_of(row.sync_location, ctx.settings, links_of(ctx)).delete(row.id, row.sync_location)
