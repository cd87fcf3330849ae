"""The relay reads a live stream's items from the agent's HTTP port when the call hands over a
ticket (controlplane.stream_relay), and from the call itself when that port does not answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import aiohttp
import grpc
import pytest
from aiohttp import web

from controlplane.agents.client import AgentClient
from controlplane.stream_relay import StreamRelay
from shared.live_frames import LIVE_PATH, header
from shared.media_fanout import Fragment, Init
from shared.rpc import agent_pb2 as pb
from videorec_testing.async_timeout import within
from videorec_testing.net import free_port

pytestmark = pytest.mark.anyio

INIT = Init(b"\x00\x00\x00\x08ftyp" + b"\x00\x00\x00\x08moov", "avc1.42c01e")
TICKET = "t" * 32


def fragment(n: int, keyframe: bool = False) -> Fragment:
    return Fragment(b"\x00\x00\x00\x08prft" + bytes([n]) * 100, keyframe, 1_700_000_000.0 + n)


class FakeCall:
    """A LiveStream call: the pieces it was given, then silence until cancelled."""

    def __init__(self, pieces: list[pb.MediaPiece]) -> None:
        self.pieces = list(pieces)
        self.cancelled = asyncio.Event()

    async def read(self) -> object:
        if self.pieces:
            return self.pieces.pop(0)
        await self.cancelled.wait()
        return grpc.aio.EOF  # type: ignore[attr-defined]

    def cancel(self) -> bool:
        self.cancelled.set()
        return True


class FakeAgent:
    name = "agent-1"


def init_piece(ticket: str = "") -> pb.MediaPiece:
    return pb.MediaPiece(data=INIT.data, init=True, codecs=INIT.codecs, http_ticket=ticket)


@pytest.fixture
async def agent_http() -> AsyncIterator[str]:
    """An agent's HTTP port that sends the init segment and three fragments for TICKET."""
    done = asyncio.Event()

    async def live(request: web.Request) -> web.StreamResponse:
        if request.match_info["ticket"] != TICKET:
            raise web.HTTPNotFound()
        response = web.StreamResponse()
        await response.prepare(request)
        for item in (INIT, fragment(1, keyframe=True), fragment(2), fragment(3)):
            await response.write(header(item) + item.data)
        await done.wait()  # the stream goes on until the test ends
        return response

    app = web.Application()
    app.router.add_get(LIVE_PATH, live)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        done.set()
        await runner.cleanup()


async def read_fragments(
    relay: StreamRelay, open_call: object, http: tuple[aiohttp.ClientSession, str]
) -> list[bytes]:
    upstream = await within(
        10,
        relay.join("key", cast(AgentClient, FakeAgent()), open_call, 1, 5.0, http),  # type: ignore[arg-type]
        "the upstream",
    )
    with upstream.fanout.reading() as reader:
        items = [await within(10, reader.next(), "an item") for _ in range(4)]
    assert isinstance(items[0], Init) and items[0].codecs == INIT.codecs
    return [item.data for item in items[1:]]


async def test_items_come_from_the_agents_http_port_when_the_call_gives_a_ticket(agent_http: str) -> None:
    asked: list[bool] = []

    def open_call(over_http: bool) -> FakeCall:
        asked.append(over_http)
        return FakeCall([init_piece(TICKET)])  # the items do not come on the call

    relay = StreamRelay()
    async with aiohttp.ClientSession() as http:
        try:
            got = await read_fragments(relay, open_call, (http, agent_http))
        finally:
            await relay.aclose()
    assert asked == [True]
    assert got == [fragment(n).data for n in (1, 2, 3)]


async def test_items_come_on_the_call_when_the_agents_http_port_does_not_answer() -> None:
    asked: list[bool] = []
    calls: list[FakeCall] = []

    def open_call(over_http: bool) -> FakeCall:
        asked.append(over_http)
        if over_http:
            call = FakeCall([init_piece(TICKET)])
        else:
            pieces = [pb.MediaPiece(data=fragment(n).data, keyframe=n == 1) for n in (1, 2, 3)]
            call = FakeCall([init_piece(), *pieces])
        calls.append(call)
        return call

    relay = StreamRelay()
    async with aiohttp.ClientSession() as http:
        try:
            got = await read_fragments(relay, open_call, (http, f"http://127.0.0.1:{free_port()}"))
        finally:
            await relay.aclose()
    assert asked == [True, False]
    assert calls[0].cancelled.is_set(), "the call that asked for HTTP is given up"
    assert got == [fragment(n).data for n in (1, 2, 3)]
