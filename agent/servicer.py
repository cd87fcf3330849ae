"""The gRPC handlers of the agent: parse the request, call the camera-facing code, shape the answer.

Recording RPCs are left to the generated base class (UNIMPLEMENTED) until the recorder lands."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import grpc

from agent import camera
from agent.camera import CameraError
from agent.convert import spec_from_proto
from agent.ffmpeg import commands
from agent.ffmpeg.jpeg import JpegSplitter
from agent.ffmpeg.process import FfmpegProcess
from agent.runtime_state import RuntimeState
from shared.rpc import agent_pb2 as pb
from shared.rpc import agent_pb2_grpc

log = logging.getLogger(__name__)

MAX_TEST_FRAMES = 300


class AgentServicer(agent_pb2_grpc.AgentServicer):
    def __init__(self, state: RuntimeState) -> None:
        self._state = state
        self._settings = state.settings

    async def GetInfo(self, request: pb.GetInfoRequest, context: grpc.aio.ServicerContext) -> pb.AgentInfo:
        return self._state.info()

    async def Snapshot(self, request: pb.SnapshotRequest, context: grpc.aio.ServicerContext) -> pb.Image:
        spec = spec_from_proto(request.source)
        # A source that is being watched answers from its live reader at once.
        frame = self._state.hub.latest(spec.source_id, max_age=max(2.0 / self._settings.live_fps, 1.0))
        if frame is not None:
            return pb.Image(jpeg=frame.jpeg, captured_unix=frame.captured)
        try:
            jpeg = await camera.snapshot(
                spec, self._state.http, self._settings.snapshot_timeout_s, self._settings.ffmpeg_bin
            )
        except CameraError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, exc.detail)
        return pb.Image(jpeg=jpeg, captured_unix=time.time())

    async def LiveFrames(
        self, request: pb.LiveFramesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Image]:
        spec = spec_from_proto(request.source)
        interval = request.interval_s if request.interval_s > 0 else 1.0
        async with self._state.hub.subscribe(spec) as subscription:
            seq = 0
            next_at: float | None = None
            while True:
                try:
                    frame = await subscription.next_frame(seq, timeout=self._settings.snapshot_timeout_s)
                except CameraError as exc:
                    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, exc.detail)
                seq = frame.seq
                yield pb.Image(jpeg=frame.jpeg, captured_unix=frame.captured)
                # Paced on a schedule, not "sleep after send", so the rate does not drift; the schedule
                # starts at the first frame and never bursts to catch up after a slow one.
                now = time.monotonic()
                next_at = (
                    now + interval if next_at is None or next_at + interval < now else next_at + interval
                )
                await asyncio.sleep(next_at - now)

    async def Probe(self, request: pb.ProbeRequest, context: grpc.aio.ServicerContext) -> pb.ProbeResult:
        spec = spec_from_proto(request.source)
        online, detail = await camera.probe(
            spec, self._state.http, self._settings.probe_timeout_s, self._settings.ffmpeg_bin
        )
        return pb.ProbeResult(online=online, detail=detail)

    async def TestImage(self, request: pb.TestImageRequest, context: grpc.aio.ServicerContext) -> pb.Image:
        argv = commands.test_image_argv(self._settings.ffmpeg_bin)
        async with FfmpegProcess(argv, name="test-image", stdout_pipe=True) as proc:
            assert proc.stdout is not None
            data = await asyncio.wait_for(proc.stdout.read(), timeout=self._settings.snapshot_timeout_s)
        jpegs = JpegSplitter().feed(data)
        if not jpegs:
            await context.abort(grpc.StatusCode.INTERNAL, "ffmpeg produced no test image")
        return pb.Image(jpeg=jpegs[0], captured_unix=time.time())

    async def TestVideo(
        self, request: pb.TestVideoRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Image]:
        frames = min(request.frames or 25, MAX_TEST_FRAMES)
        fps = 1.0 / request.interval_s if request.interval_s > 0 else 10.0
        argv = commands.test_video_argv(frames, fps, self._settings.ffmpeg_bin)
        splitter = JpegSplitter()
        sent = 0
        async with FfmpegProcess(argv, name="test-video", stdout_pipe=True) as proc:
            assert proc.stdout is not None
            while sent < frames:
                chunk = await proc.stdout.read(65536)
                if not chunk:
                    break
                for jpeg in splitter.feed(chunk):
                    sent += 1
                    yield pb.Image(jpeg=jpeg, captured_unix=time.time())
        if sent == 0:
            await context.abort(grpc.StatusCode.INTERNAL, "ffmpeg produced no test video")
