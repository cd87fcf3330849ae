"""A record's bytes for GET /record/{id}/video, and file deletion.

Three ways, best first: a 307 to a URL signed on the agent that holds the file (asked for, or the
agent has a public URL clients reach); the agent's own HTTP answer to such a URL, relayed chunk by
chunk (the agent settles ranges and validators with sendfile; nothing here is buffered); gRPC reads
for an agent that reports no HTTP port (an older one), with ranges parsed here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.agents.client import AgentClient
from controlplane.context import AppContext
from controlplane.data import records as records_data
from controlplane.errors import (
    AgentTimeoutError,
    AgentUnavailableError,
    BadLocationError,
    ConflictError,
    NotFoundError,
)
from controlplane.models import Record
from controlplane.services import agents as agents_service
from controlplane.services import media_urls
from controlplane.services import sync as sync_service
from shared.enums import RecordStatus
from shared.ranges import ByteRange, parse_range

log = logging.getLogger(__name__)

# What a client's request may settle on the agent, and what of the agent's answer reaches the client.
FORWARDED = ("range", "if-range", "if-none-match", "if-match")
RELAYED = (
    "content-type",
    "content-length",
    "content-range",
    "accept-ranges",
    "etag",
    "last-modified",
    "cache-control",
)
RELAYED_STATUS = frozenset({200, 206, 304, 412, 416})


@dataclass
class Playback:
    status_code: int
    headers: dict[str, str]
    body: AsyncIterator[bytes]
    close: Callable[[], Awaitable[None]] | None = None  # run once the answer ends, however it ends


@dataclass(frozen=True)
class Redirect:
    url: str  # signed, short-lived: never to be cached


async def _holder(ctx: AppContext, session: AsyncSession, row: Record) -> AgentClient:
    agent = await agents_service.agent_for_record(session, ctx.settings, row)
    return ctx.agents.client(agent)


async def video(
    ctx: AppContext,
    session: AsyncSession,
    record_id: str,
    request_headers: Mapping[str, str],
    redirect: bool | None = None,
) -> Playback | Redirect:
    """`redirect`: None lets the settings and the agent decide (VIDEOREC_MEDIA_REDIRECT, or the agent
    has a public URL); True/False asks for a redirect / for the bytes through here."""
    row = await records_data.get(session, record_id)
    if row.status == RecordStatus.DELETED or row.location is None:
        raise NotFoundError("file of record", record_id)
    agent = await agents_service.agent_for_record(session, ctx.settings, row)
    if redirect is None:
        redirect = ctx.settings.media_redirect or agent.public_url is not None
    if redirect:
        direct = media_urls.sign(ctx.settings, agent, row, public=True)
        if direct is not None:
            return Redirect(direct.url)
    internal = media_urls.sign(ctx.settings, agent, row, public=False)
    if internal is not None:
        return await _proxy(ctx, agent.name, row.id, internal.url, request_headers)
    # An agent that serves no signed URLs (an older one) still gets its bytes read over gRPC.
    return await _over_grpc(ctx.agents.client(agent), row, request_headers.get("range"))


async def _proxy(
    ctx: AppContext, agent_name: str, record_id: str, url: str, request_headers: Mapping[str, str]
) -> Playback:
    forwarded = {k: v for k in FORWARDED if (v := request_headers.get(k)) is not None}
    # identity: the bytes and Content-Length are relayed as they are, never re-encoded in between.
    headers = {**forwarded, "Accept-Encoding": "identity"}
    try:
        response = await ctx.agents.http.get(url, headers=headers, allow_redirects=False)
    except TimeoutError:
        raise AgentTimeoutError(f"agent {agent_name} did not start sending record {record_id}") from None
    except aiohttp.ClientError as exc:
        raise AgentUnavailableError(
            f"agent {agent_name}'s HTTP port is unreachable ({type(exc).__name__})"
        ) from None
    status = response.status
    if status not in RELAYED_STATUS:
        response.release()
        if status == 404:
            raise NotFoundError("file of record", record_id)
        if status == 403:  # the agent holds another token than the one its key was derived from
            raise AgentUnavailableError(f"agent {agent_name} refused the URL the control plane signed")
        raise AgentUnavailableError(f"agent {agent_name} answered {status} for record {record_id}")
    relayed = {k: v for k in RELAYED if (v := response.headers.get(k)) is not None}

    async def close() -> None:
        response.release()  # a body not read to its end closes the connection instead of reusing it

    return Playback(status, relayed, _relay(response, agent_name, record_id), close)


async def _relay(response: aiohttp.ClientResponse, agent_name: str, record_id: str) -> AsyncIterator[bytes]:
    """The agent's body as it arrives: what one read buffered, never the file, in memory."""
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    except (TimeoutError, aiohttp.ClientError) as exc:
        # The answer has started: all that is left is to cut it (the client sees a short body).
        log.warning("agent %s broke off record %s: %s", agent_name, record_id, type(exc).__name__)
        raise
    finally:
        response.release()


async def _over_grpc(client: AgentClient, row: Record, range_header: str | None) -> Playback:
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
