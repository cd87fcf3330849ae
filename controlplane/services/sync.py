"""Starting sync jobs, importing copies from other deployments, and deleting synced copies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.context import AppContext
from controlplane.data import agents as agents_data
from controlplane.data import records as records_data
from controlplane.data import sync_jobs
from controlplane.data import tags as tags_data
from controlplane.errors import AgentUnavailableError, ConflictError, CopyVerificationError
from controlplane.models import Record
from controlplane.models.sync import SyncJob, SyncStart
from controlplane.services import agents as agents_service
from controlplane.services.tags import get_tag
from controlplane.sync.locations import PeerTarget, S3Target, parse_location
from controlplane.sync.transfer import safe_tag
from shared.enums import RecordStatus
from shared.rpc import agent_pb2 as pb


async def start(ctx: AppContext, session: AsyncSession, body: SyncStart) -> SyncJob:
    parse_location(body.location, ctx.settings)  # 422 before anything is stored or sent
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
        if row.hash_md5 == hash_md5 and row.status == RecordStatus.COMPLETED.value:
            return row  # the same copy again: nothing to do
        raise ConflictError(f"record {record_id} exists here with other content")
    agent = await agents_service.any_online_agent(session, ctx.settings)
    await session.commit()
    header = pb.WriteFileHeader(
        record_id=record_id, path=f"import/{safe_tag(tag_name)}", size=size, hash_md5=hash_md5
    )
    result = await ctx.agents.client(agent.name, agent.address).write_file(header, body, 60 + size / 1e6)
    if result.hash_md5 != hash_md5:
        raise CopyVerificationError(f"imported copy of {record_id} hashed to {result.hash_md5}")
    tag = await tags_data.get_or_create(session, tag_name)
    assert tag.id is not None
    row = await records_data.add(
        session,
        Record(
            id=record_id,
            tag_id=tag.id,
            status=RecordStatus.COMPLETED.value,
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
    location = row.sync_location
    assert location is not None
    if location.startswith(("http://", "https://")):
        await _delete_on_peer(ctx, row, location)
    elif location.startswith("s3://"):
        await _delete_in_s3(ctx, location)
    else:
        name = location.split(":", 1)[0]
        agent = await agents_data.get(session, name)
        if agent is None or not agents_service.is_online(agent, ctx.settings):
            raise AgentUnavailableError(f"agent {name} holding the copy of record {row.id} is offline")
        await ctx.agents.client(agent.name, agent.address).delete_file(row.id, location)


async def _delete_on_peer(ctx: AppContext, row: Record, location: str) -> None:
    base = location.split("/api/v1/record/", 1)[0]
    target = parse_location(base + "/", ctx.settings)
    assert isinstance(target, PeerTarget)
    headers = (
        {"Authorization": f"Bearer {target.config.token.get_secret_value()}"} if target.config.token else {}
    )
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        try:
            remote = (await client.get(location)).raise_for_status().json()
            deleted = await client.delete(f"{location}/file", params={"location": remote["location"]})
            deleted.raise_for_status()
        except httpx.HTTPError as exc:
            raise AgentUnavailableError(f"peer {base} did not delete the copy: {exc}") from None


async def _delete_in_s3(ctx: AppContext, location: str) -> None:
    from controlplane.sync.s3 import S3Destination

    bucket, _, key = location.removeprefix("s3://").partition("/")
    target = parse_location(f"s3://{bucket}/", ctx.settings)
    assert isinstance(target, S3Target)
    await S3Destination(bucket, "", target.config).delete(key)
