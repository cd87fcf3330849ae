"""A camera's live video as the camera sends it (fMP4, no re-encoding), through its agent and this
replica's relay (controlplane.stream_relay), for `stream.mp4` and the console's WebSocket tiles."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.context import AppContext
from controlplane.data import records as records_data
from controlplane.models import Agent
from controlplane.services import pictures
from controlplane.settings import Settings
from controlplane.stream_relay import Upstream
from shared.media_fanout import Init, StreamEnded

MP4_MEDIA_TYPE = "video/mp4"


async def open_stream(ctx: AppContext, session: AsyncSession, source_id: int) -> Upstream:
    """The source's running upstream (its init segment already here); 404 / 403 / 502 / 503 as the
    picture routes answer them."""
    agent, spec = await pictures.agent_for(ctx, session, source_id)
    client = ctx.agents.client(agent)
    key = (source_id, client.name, spec.SerializeToString(deterministic=True))
    base = items_base(ctx.settings, agent)
    http = (ctx.agents.http, base) if base is not None else None
    with pictures.no_foreign_details():
        return await ctx.streams.join(
            key,
            client,
            lambda over_http: client.live_stream(spec, over_http=over_http),
            source_id,
            ctx.settings.grpc_timeout_s,
            http,
        )


def items_base(settings: Settings, agent: Agent) -> str | None:
    """Where the relay reads a stream's items (the agent's HTTP port, as the record proxy does), or
    None for the call itself: an agent that reports no HTTP port, or TLS to agents asked for (the
    HTTP port has none)."""
    if not agent.http_address or settings.agent_tls_ca is not None:
        return None
    return f"http://{agent.http_address}"


def content_type(upstream: Upstream) -> str:
    init = upstream.fanout.init
    codecs = init.codecs if init is not None else ""
    return f'{MP4_MEDIA_TYPE}; codecs="{codecs}"' if codecs else MP4_MEDIA_TYPE


async def mp4_body(upstream: Upstream) -> AsyncIterator[bytes]:
    """One viewer's bytes: the init segment, the fragments from the latest keyframe on, until the
    client leaves. A second init segment (the camera's stream restarted with new parameters) cannot
    continue one MP4 file: the answer ends there and the client opens the stream again."""
    with upstream.fanout.reading() as reader:
        inits = 0
        while True:
            try:
                item = await reader.next()
            except StreamEnded:
                return
            if isinstance(item, Init):
                inits += 1
                if inits > 1:
                    return
            yield item.data


async def recording(ctx: AppContext, source_id: int) -> bool:
    """Whether the source has a record that is recording now."""
    async with ctx.sessions() as session:
        return bool(await records_data.active_of_source(session, source_id))
