"""Signed URLs to a record's file on the agent that holds it (the agent checks them: agent.ops.media),
so that bytes go from the agent's disk to the client with sendfile instead of through gRPC and here.

A URL opens one location of one record until it expires (`media_url_ttl_s`); it is signed with a key
derived from the holding agent's own token (shared.media_urls), so no new secret is distributed.

Two bases: the agent's `public_url` (what clients reach it by, VIDEOREC_AGENT_PUBLIC_URL) for URLs
handed to clients, and its reported `http_address` for what the control plane and other agents dial
themselves (the proxy, sync pulls): they are on the agents' network, clients may not be."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import aiohttp
from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.context import AppContext
from controlplane.data import records as records_data
from controlplane.errors import AgentTimeoutError, AgentUnavailableError, NotFoundError
from controlplane.models import Agent, Record
from controlplane.models.common import UtcDatetimeOut
from controlplane.services import agents as agents_service
from controlplane.settings import Settings
from shared.enums import RecordStatus
from shared.media_urls import MEDIA_PATH, MediaGrant, media_key


class MediaUrl(BaseModel):
    """Where a client reads a record's file directly from its agent, and until when."""

    url: str = Field(description="the file on the agent's HTTP port (GET with Range, If-Range, ETag)")
    expires_utc: UtcDatetimeOut = Field(description="after this the agent refuses the URL: ask again")


def sign(
    settings: Settings,
    agent: Agent,
    record: Record,
    now: float | None = None,
    *,
    public: bool = True,
    location: str | None = None,
) -> MediaUrl | None:
    """A URL to `record`'s file on `agent` (its `location` unless another is named), or None when
    there is none to give: the agent reports no HTTP port (an older agent), or there is no agent
    token to derive a key from. `public`: for a client (the agent's public URL when it has one);
    otherwise for the control plane or an agent (always its reported HTTP address, and none with
    TLS to agents configured)."""
    token = settings.agent_token_for(agent.name, agent.token_site)
    location = location or record.location
    if not agent.http_address or not token or not location:
        return None
    if not public and settings.agent_tls_ca is not None:
        # The agents' HTTP port has no TLS: where the operator asked for TLS to agents, the bytes the
        # control plane fetches itself (proxy, sync) stay on gRPC over TLS.
        return None
    base = agent.public_url if public and agent.public_url else f"http://{agent.http_address}"
    expires = math.ceil((time.time() if now is None else now) + settings.media_url_ttl_s)
    grant = MediaGrant(record.id, location, expires)
    path = MEDIA_PATH.format(record_id=quote(record.id, safe=""))
    query = urlencode(grant.query(media_key(token, agent.name)))
    return MediaUrl(url=f"{base}{path}?{query}", expires_utc=datetime.fromtimestamp(expires, UTC))


async def for_record(ctx: AppContext, session: AsyncSession, record_id: str) -> MediaUrl | None:
    """The signed URL of a record's file; NotFound / AgentUnavailable as playback answers them."""
    row = await records_data.get(session, record_id)
    if row.status == RecordStatus.DELETED:
        raise NotFoundError("file of record", record_id)
    agent = await agents_service.agent_for_record(session, ctx.settings, row)
    return sign(ctx.settings, agent, row)


async def required(ctx: AppContext, session: AsyncSession, record_id: str) -> MediaUrl:
    found = await for_record(ctx, session, record_id)
    if found is None:
        raise AgentUnavailableError(f"the agent holding record {record_id} serves no direct URLs")
    return found


async def read(
    http: aiohttp.ClientSession, agent_name: str, url: str, chunk_size: int
) -> AsyncIterator[bytes]:
    """The whole file at a URL signed on `agent_name`'s HTTP port, as it arrives (chunks of at most
    `chunk_size`): how sync reads a record for a destination that does not fetch it itself."""
    try:
        async with http.get(url, headers={"Accept-Encoding": "identity"}, allow_redirects=False) as response:
            if response.status == 404:
                raise NotFoundError("file on agent", agent_name)
            if response.status != 200:
                raise AgentUnavailableError(f"agent {agent_name} answered {response.status} for its file")
            async for chunk in response.content.iter_chunked(chunk_size):
                yield chunk
    except TimeoutError:
        raise AgentTimeoutError(f"agent {agent_name} stopped sending its file") from None
    except aiohttp.ClientError as exc:
        raise AgentUnavailableError(f"agent {agent_name}'s HTTP port failed: {type(exc).__name__}") from None
