"""A record's bytes through the control plane (ranges, while still recording too) and file deletion."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.agents.client import AgentClient
from controlplane.context import AppContext
from controlplane.data import records as records_data
from controlplane.errors import BadLocationError, ConflictError, NotFoundError
from controlplane.models import Record
from controlplane.services import agents as agents_service
from controlplane.services import sync as sync_service
from controlplane.services.ranges import ByteRange, parse_range
from shared.enums import RecordStatus


@dataclass
class Playback:
    status_code: int
    headers: dict[str, str]
    body: AsyncIterator[bytes]


async def _holder(ctx: AppContext, session: AsyncSession, row: Record) -> AgentClient:
    agent = await agents_service.agent_for_record(session, ctx.settings, row)
    return ctx.agents.client(agent.name, agent.address)


async def video(ctx: AppContext, session: AsyncSession, record_id: str, range_header: str | None) -> Playback:
    row = await records_data.get(session, record_id)
    if row.status == RecordStatus.DELETED:
        raise NotFoundError("file of record", record_id)
    client = await _holder(ctx, session, row)
    assert row.location is not None
    stat = await client.stat_file(row.id, row.location)
    byte_range = parse_range(range_header, stat.size)  # RangeNotSatisfiable → 416 in the route
    whole = ByteRange(0, stat.size - 1)
    chosen = byte_range or whole
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": stat.content_type or "video/mp4",
        "Content-Length": str(chosen.length if stat.size else 0),
    }
    if stat.hash_md5:
        headers["ETag"] = f'"{stat.hash_md5}"'
    if byte_range is not None:
        headers["Content-Range"] = byte_range.content_range(stat.size)
    body = client.read_file(row.id, row.location, chosen.start, chosen.length) if stat.size else _empty()
    return Playback(206 if byte_range else 200, headers, body)


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def delete_file(ctx: AppContext, session: AsyncSession, record_id: str, location: str) -> Record:
    row = await records_data.get(session, record_id)
    # A record still recording refuses any delete (its location moves from part to part meanwhile).
    if row.status.active:
        raise ConflictError(f"record {record_id} is still recording")
    if location not in {row.location, row.sync_location} - {None}:
        raise BadLocationError(f"{location!r} is not a location of record {record_id}")
    if location == row.location:
        client = await _holder(ctx, session, row)
        await client.delete_file(row.id, location)
        row.location = None
    else:
        await sync_service.delete_copy(ctx, session, row)
        row.sync_location = None
    if row.location is None and row.sync_location is None:
        row.status = RecordStatus.DELETED
    await session.flush()
    return row
