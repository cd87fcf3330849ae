"""A recording writes its camera's session (agent.recording.live_copy): against the real RTSP test
camera, a viewer of the session is fed by the recording's ffmpeg while it runs (the camera sees one
session), and by the session's own ffmpeg before and after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent.cameras.spec import CameraSpec
from agent.ffmpeg.commands import record_command
from agent.ffmpeg.process import FfmpegProcess
from agent.live.session import SessionSettings
from agent.live.session_hub import SessionHub
from agent.recording.live_copy import open_feed, pump
from shared.media_fanout import Fragment, Init, Reader
from tests.agent.recording.support import (
    assert_final_file,
    open_manager,
    start_and_wait_for_video,
    wait_video,
)
from videorec_testing.async_timeout import within
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.wait import await_until

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    with start_rtsp_camera(fps=25) as cam:
        yield cam


@pytest.fixture
async def sessions() -> AsyncIterator[SessionHub]:
    hub = SessionHub(SessionSettings("ffmpeg", io_timeout_s=5.0, linger_s=0.5))
    try:
        yield hub
    finally:
        await within(30, hub.aclose(), "the sessions' aclose()")


async def next_fragments(reader: Reader, count: int) -> list[Init | Fragment]:
    """The next items up to and including `count` fragments."""
    items: list[Init | Fragment] = []
    while sum(isinstance(item, Fragment) for item in items) < count:
        items.append(await reader.next(10))
    return items


async def test_a_feed_takes_the_camera_from_the_sessions_ffmpeg_and_gives_it_back(
    camera: RtspCamera, sessions: SessionHub, tmp_path: Path
) -> None:
    spec = CameraSpec(source_id=7, rtsp_url=camera.url)
    async with sessions.hold(spec) as session:
        with session.fanout.reading() as reader:
            await next_fragments(reader, 3)  # the session's own ffmpeg
            assert camera.playing() == 1
            feed = await open_feed(sessions, spec)
            assert feed is not None and feed.taken.is_set()
            assert session.process is not None and not session.process.running  # the camera let go
            command = record_command(
                None, camera.url, str(tmp_path / "p.mp4"), "ffmpeg", live_fragment_us=200_000
            )
            proc = FfmpegProcess(command.argv, name="record", stdin_data=command.stdin, stdout_pipe=True)
            await proc.start()
            pumping = asyncio.create_task(pump(proc, feed))
            try:
                items = await next_fragments(reader, 5)
                # The recording's init segment, then its fragments from a keyframe: one session.
                new = next(i for i, item in enumerate(items) if isinstance(item, Init))
                first = items[new + 1]
                assert isinstance(first, Fragment) and first.keyframe
                assert camera.playing() == 1 and sessions.session_count == 1
            finally:
                await proc.stop()
                await asyncio.wait({pumping})
                feed.close()
            # The recording's ffmpeg is gone: the session dials the camera again for its reader.
            await next_fragments(reader, 3)
            assert session.process.running
            await await_until(lambda: camera.playing() == 1, 10, what="one session")
    await await_until(lambda: sessions.session_count == 0, 10, what="the session's end")


CUSTOM = "ffmpeg -rtsp_transport tcp -i {input} -map 0:v -c copy -f mp4 -movflags +frag_keyframe+empty_moov {output}"


@pytest.mark.parametrize(("template", "sessions_of_the_camera"), [(None, 1), (CUSTOM, 2)])
async def test_a_recording_of_the_default_template_is_its_cameras_live_session(
    camera: RtspCamera,
    tmp_path: Path,
    sessions: SessionHub,
    template: str | None,
    sessions_of_the_camera: int,
) -> None:
    """A user's template may cut, filter or transcode: its camera keeps a live session of its own."""
    spec = CameraSpec(source_id=8, rtsp_url=camera.url)
    async with open_manager(tmp_path, sessions=sessions) as manager:
        info = await start_and_wait_for_video(manager, spec, ffmpeg_cmd=template)
        async with sessions.hold(spec) as session:
            with session.fanout.reading() as reader:
                items = await next_fragments(reader, 5)
                assert isinstance(items[0], Init)
                assert session.runs == (0 if template is None else 1)  # no ffmpeg of its own
                assert camera.playing() == sessions_of_the_camera
        await wait_video(info.path, 2.0)
        done = await manager.stop(info.record_id)
    assert_final_file(done, tmp_path)
    await await_until(lambda: camera.playing() == 0, 10, what="no session left")
