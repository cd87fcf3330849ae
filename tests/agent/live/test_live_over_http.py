"""A live stream's items on the agent's HTTP port (agent.ops.live): the LiveStream call hands over a
ticket with the init segment, `GET /live/{ticket}` brings the session's items, and the ticket ends
with the call (its answer ends, a new GET is refused)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import cast

import aiohttp
import pytest

from agent.cameras.spec import CameraSpec
from agent.live.session import SessionSettings
from agent.live.session_hub import SessionHub
from agent.ops import server as ops_server
from agent.ops.server import Readiness
from agent.rpc.live_stream import live_stream
from shared.live_frames import read_item
from shared.media_fanout import Fragment, Init
from shared.rpc import agent_pb2 as pb
from videorec_testing.async_timeout import within
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.wait import await_until

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def rtsp_camera() -> Iterator[RtspCamera]:
    with start_rtsp_camera(fps=25) as camera:
        yield camera


@pytest.fixture
async def sessions_on_http() -> AsyncIterator[tuple[SessionHub, str]]:
    sessions = SessionHub(SessionSettings("ffmpeg", io_timeout_s=5.0, linger_s=0.0))
    # No probe or metrics route is asked for here: the live route needs the tickets only.
    runner, port = await ops_server.start(cast(Readiness, None), "127.0.0.1", 0, None, sessions.tickets)
    try:
        yield sessions, f"http://127.0.0.1:{port}"
    finally:
        await within(30, sessions.aclose(), "the sessions' aclose()")
        await runner.cleanup()


async def test_items_come_over_http_for_as_long_as_the_call_holds_the_ticket(
    rtsp_camera: RtspCamera, sessions_on_http: tuple[SessionHub, str]
) -> None:
    sessions, base = sessions_on_http
    spec = CameraSpec(source_id=7, rtsp_url=rtsp_camera.url)
    call = cast(AsyncGenerator[pb.MediaPiece, None], live_stream(sessions, spec, 20.0, over_http=True))
    first = await within(30, anext(call), "the first piece")
    assert first.init and first.data[4:8] == b"ftyp" and first.codecs.startswith("avc1.")
    assert len(first.http_ticket) >= 32, "a ticket nobody can guess"
    async with aiohttp.ClientSession() as http:
        url = f"{base}/live/{first.http_ticket}"
        async with http.get(url) as response:
            assert response.status == 200
            init = await within(10, read_item(response.content.readexactly), "the init segment")
            assert isinstance(init, Init) and init.data == first.data and init.codecs == first.codecs
            fragments = [
                await within(10, read_item(response.content.readexactly), "a fragment") for _ in range(4)
            ]
            assert all(isinstance(f, Fragment) for f in fragments)
            head = cast(Fragment, fragments[0])
            assert head.keyframe and head.data[4:8] == b"prft" and head.wallclock is not None
            # The call ends (the control plane cancelled it): so does the answer of its ticket.
            await call.aclose()

            async def drain() -> None:
                with pytest.raises(asyncio.IncompleteReadError):
                    while True:
                        await read_item(response.content.readexactly)

            await within(10, drain(), "the answer to end with the call")
        async with http.get(url) as response:
            assert response.status == 404
        async with http.get(f"{base}/live/not-a-ticket") as response:
            assert response.status == 404


async def test_a_reader_that_leaves_is_let_go_without_an_error(
    rtsp_camera: RtspCamera, sessions_on_http: tuple[SessionHub, str], caplog: pytest.LogCaptureFixture
) -> None:
    sessions, base = sessions_on_http
    spec = CameraSpec(source_id=8, rtsp_url=rtsp_camera.url)
    call = cast(AsyncGenerator[pb.MediaPiece, None], live_stream(sessions, spec, 20.0, over_http=True))
    first = await within(30, anext(call), "the first piece")
    try:
        async with aiohttp.ClientSession() as http:
            response = await http.get(f"{base}/live/{first.http_ticket}")
            await within(10, read_item(response.content.readexactly), "the init segment")
            session = sessions.running(8)
            assert session is not None and session.fanout.reader_count == 1
            response.close()  # the control plane's viewers left
            await await_until(lambda: session.fanout.reader_count == 0, 10, what="the reader to be let go")
    finally:
        await call.aclose()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_the_call_says_why_no_video_comes_while_the_items_go_over_http(
    sessions_on_http: tuple[SessionHub, str],
) -> None:
    sessions, _base = sessions_on_http
    with start_rtsp_camera(fps=25) as camera:
        spec = CameraSpec(source_id=9, rtsp_url=camera.url)
        call = cast(AsyncGenerator[pb.MediaPiece, None], live_stream(sessions, spec, 20.0, over_http=True))
        try:
            first = await within(30, anext(call), "the first piece")
            assert first.http_ticket
            camera.stop()  # the camera goes away mid-stream
            piece = await within(20, anext(call), "a status piece")
            assert piece.status and not piece.data, piece
        finally:
            await call.aclose()
