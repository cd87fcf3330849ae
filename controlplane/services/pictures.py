"""Pictures of a camera now: one JPEG, or a live MJPEG stream, fetched through the source's agent."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.agents.client import AgentClient
from controlplane.agents.convert import source_spec
from controlplane.context import AppContext
from controlplane.data import sources as sources_data
from controlplane.errors import CameraUnavailableError, ForbiddenError
from controlplane.models import Agent
from controlplane.services import agents as agents_service
from controlplane.services import camera_policy
from shared.rpc import agent_pb2 as pb

BOUNDARY = "frame"
MJPEG_MEDIA_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
_DETAILS = re.compile(r"\s*\([^)]*\)")


async def client_for(
    ctx: AppContext, session: AsyncSession, source_id: int
) -> tuple[AgentClient, pb.SourceSpec]:
    agent, spec = await agent_for(ctx, session, source_id)
    return ctx.agents.client(agent), spec


async def agent_for(ctx: AppContext, session: AsyncSession, source_id: int) -> tuple[Agent, pb.SourceSpec]:
    """The agent that reads the source, and the source as it is sent to it (403 for a camera URL the
    policy refuses)."""
    stored = await sources_data.get(session, source_id)
    for uri in (stored.uri_rtsp, stored.picture_uri):
        reason = await camera_policy.refusal(uri, ctx.settings)
        if reason is not None:
            raise ForbiddenError(f"source {source_id}: its camera URL {reason}")
    source, agent = await agents_service.agent_for_source(session, ctx.settings, source_id)
    # Always end the transaction here: placement may have been written (flushed, so no longer
    # "dirty"), and an MJPEG answer keeps this session open for as long as someone watches; an open
    # write transaction would hold SQLite's lock and stall every heartbeat meanwhile.
    await session.commit()
    return agent, source_spec(source)


async def snapshot(ctx: AppContext, session: AsyncSession, source_id: int) -> bytes:
    await sources_data.get(session, source_id)  # 404 first, even for a watched source
    watched = ctx.live.latest(source_id, max_age_s=1.0)
    if watched is not None:
        return watched.jpeg
    client, spec = await client_for(ctx, session, source_id)
    with no_foreign_details():
        image = await client.snapshot(spec, timeout_s=ctx.settings.grpc_timeout_s)
    return image.jpeg


@contextmanager
def no_foreign_details() -> Iterator[None]:
    """A camera URL may name any service: what answered there (its content type, its size) is
    not ours to describe, so the agent's parenthesised details are dropped from the error."""
    try:
        yield
    except CameraUnavailableError as exc:
        raise CameraUnavailableError(_DETAILS.sub("", exc.message)) from None


async def live(
    ctx: AppContext, session: AsyncSession, source_id: int, delay_s: float
) -> AsyncIterator[bytes]:
    """Returns once a first frame is here (so errors are still an HTTP status); the iterator yields
    multipart parts until the client leaves. Viewers of one source share one stream from its agent."""
    client, spec = await client_for(ctx, session, source_id)
    interval = min(delay_s, ctx.settings.live_relay_interval_s)
    key = (source_id, client.name, spec.SerializeToString(deterministic=True))
    with no_foreign_details():
        feed = await ctx.live.join(key, lambda: client.live_frames(spec, interval))
    return _parts(ctx.live.frames(feed, delay_s))


async def _parts(images: AsyncIterator[pb.Image]) -> AsyncIterator[bytes]:
    async for image in images:
        yield part(image.jpeg)


async def test_image(ctx: AppContext, session: AsyncSession) -> bytes:
    agent = await agents_service.any_online_agent(session, ctx.settings)
    return (await ctx.agents.client(agent).test_image()).jpeg


async def test_video(
    ctx: AppContext, session: AsyncSession, frames: int, delay_s: float
) -> AsyncIterator[bytes]:
    agent = await agents_service.any_online_agent(session, ctx.settings)
    stream = ctx.agents.client(agent).test_video(frames, delay_s)
    first = await stream.first(timeout_s=ctx.settings.grpc_timeout_s)
    return _multipart(first, stream.rest())


def part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
    return head + jpeg + b"\r\n"


async def _multipart(first: pb.Image, rest: AsyncIterator[pb.Image]) -> AsyncIterator[bytes]:
    yield part(first.jpeg)
    async for image in rest:
        yield part(image.jpeg)
