"""The gRPC handlers of the agent: parse the request, call the camera-facing code or the record
manager, shape the answer. Domain errors become gRPC status codes here and nowhere else."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from agent.cameras.snapshot import snapshot
from agent.errors import (
    CameraError,
    CapacityError,
    CopyBusyError,
    CopyMismatchError,
    CopyResumeError,
    FileAccessError,
    PullRefusedError,
    RecordBusyError,
    SourceError,
    UnknownRecordError,
)
from agent.ffmpeg import commands
from agent.ffmpeg.jpeg import JpegSplitter
from agent.ffmpeg.process import FfmpegProcess
from agent.files.copies.model import CopyHeader
from agent.files.copies.receive import receive
from agent.files.pull import pull
from agent.files.reads import read_range
from agent.live.decode import latest_still
from agent.live.pacing import Pacer
from agent.rpc.batch_start import START_CALLS, START_ENTRIES, start_records
from agent.rpc.convert import agent_info, record_state, spec_from_proto
from agent.rpc.live_stream import live_stream
from agent.runtime import RuntimeState
from shared.rpc import agent_pb2 as pb
from shared.rpc import agent_pb2_grpc

log = logging.getLogger(__name__)

MAX_TEST_FRAMES = 300


class AgentServicer(agent_pb2_grpc.AgentServicer):
    def __init__(self, state: RuntimeState) -> None:
        self._state = state
        self._settings = state.settings

    async def GetInfo(self, request: pb.GetInfoRequest, context: grpc.aio.ServicerContext) -> pb.AgentInfo:
        return agent_info(self._state.facts(), self._settings.storage_root)

    async def Snapshot(self, request: pb.SnapshotRequest, context: grpc.aio.ServicerContext) -> pb.Image:
        spec = spec_from_proto(request.source)
        # A source that is being watched answers from its live reader at once.
        frame = self._state.hub.latest(spec.source_id, max_age=max(2.0 / self._settings.live_fps, 1.0))
        if frame is not None:
            return pb.Image(jpeg=frame.jpeg, captured_unix=frame.captured)
        # A camera whose session runs (a live stream, a recent viewer): its newest frame, no new session.
        session = self._state.hub.sessions.running(spec.source_id)
        if session is not None and session.spec == spec:
            still = await latest_still(session, self._settings.ffmpeg_bin, self._settings.snapshot_timeout_s)
            if still is not None:
                return pb.Image(jpeg=still, captured_unix=time.time())
        try:
            jpeg = await self._state.snapshots.take(
                spec,
                lambda: snapshot(
                    spec, self._state.http, self._settings.snapshot_timeout_s, self._settings.ffmpeg_bin
                ),
            )
        except CameraError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, exc.detail)
        return pb.Image(jpeg=jpeg, captured_unix=time.time())

    async def LiveFrames(
        self, request: pb.LiveFramesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Image]:
        spec = spec_from_proto(request.source)
        pacer = Pacer(request.interval_s if request.interval_s > 0 else 1.0)
        async with self._state.hub.subscribe(spec) as subscription:
            seq = 0
            while True:
                try:
                    frame = await subscription.next_frame(seq, timeout=self._settings.snapshot_timeout_s)
                except CameraError as exc:
                    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, exc.detail)
                seq = frame.seq
                yield pb.Image(jpeg=frame.jpeg, captured_unix=frame.captured)
                await asyncio.sleep(pacer.next_delay())

    async def LiveStream(
        self, request: pb.LiveStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.MediaPiece]:
        spec = spec_from_proto(request.source)
        async for piece in live_stream(
            self._state.hub.sessions, spec, self._settings.snapshot_timeout_s, context
        ):
            yield piece

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

    async def StartRecord(
        self, request: pb.StartRecordRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordState:
        START_CALLS.labels("StartRecord").inc()
        START_ENTRIES.inc()
        spec = spec_from_proto(request.source)
        try:
            info = await self._state.records.start(
                request.record_id, request.tag_name, spec, request.source.ffmpeg_cmd or None
            )
        except CapacityError as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        return record_state(info)

    async def StartRecords(
        self, request: pb.StartRecordsRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartRecordsResponse:
        return await start_records(self._state.records, request)

    async def StopRecord(
        self, request: pb.StopRecordRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordState:
        try:
            info = await self._state.records.stop(request.record_id, wait=request.wait)
        except UnknownRecordError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"record {request.record_id} is not on this agent")
        return record_state(info)

    async def _resolve(self, ref: pb.FileRef, context: grpc.aio.ServicerContext) -> _File:
        """The file `ref` names: a registered sync copy (exact record and location), else one of
        this agent's own recordings; aborts NOT_FOUND / INVALID_ARGUMENT otherwise."""
        try:
            copy = self._state.copies.resolve(ref.record_id, ref.location)
            return _File(copy.path, growing=False, hash_md5=copy.hash_md5)
        except UnknownRecordError:
            pass  # not a copy: one of the agent's own recordings, or nothing
        except FileAccessError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            served = self._state.records.resolve_file(ref.record_id, ref.location)
            return _File(served.path, growing=served.growing, hash_md5=served.hash_md5 or "")
        except UnknownRecordError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"record {ref.record_id} is not on this agent")
        except FileAccessError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        raise AssertionError("unreachable")

    async def StatFile(self, request: pb.FileRef, context: grpc.aio.ServicerContext) -> pb.FileStat:
        file = await self._resolve(request, context)
        try:
            size = file.path.stat().st_size
        except FileNotFoundError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"the file of record {request.record_id} is gone")
        return pb.FileStat(size=size, growing=file.growing, content_type="video/mp4", hash_md5=file.hash_md5)

    async def ReadFile(
        self, request: pb.ReadFileRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.FileChunk]:
        file = await self._resolve(request.file, context)
        try:
            async for offset, data in read_range(
                file.path, request.offset, request.length, request.chunk_size
            ):
                yield pb.FileChunk(offset=offset, data=data)
        except FileNotFoundError:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"the file of record {request.file.record_id} is gone"
            )

    async def DeleteFile(
        self, request: pb.FileRef, context: grpc.aio.ServicerContext
    ) -> pb.DeleteFileResponse:
        try:
            await self._state.copies.delete(request.record_id, request.location)
            return pb.DeleteFileResponse(deleted=True)
        except UnknownRecordError:
            pass  # not a copy: one of the agent's own recordings, or nothing
        except FileAccessError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            await self._state.records.delete_file(request.record_id, request.location)
        except UnknownRecordError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"record {request.record_id} is not on this agent")
        except FileAccessError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RecordBusyError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        return pb.DeleteFileResponse(deleted=True)

    async def WriteFile(
        self, request_iterator: AsyncIterator[pb.WriteFileChunk], context: grpc.aio.ServicerContext
    ) -> pb.WriteFileResult:
        """Receive a copy of another agent's record: one header message, then its bytes."""
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "header":
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the first WriteFile message must be a header"
            )
        assert first is not None
        h = first.header
        header = CopyHeader(h.record_id, h.path, h.size, h.hash_md5, h.resume_offset)
        copies = self._state.copies
        try:
            # Already kept and verified: answer before the bytes, so the caller can stop sending.
            info = copies.already_kept(header) or await receive(copies, header, _data(request_iterator))
        except FileAccessError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except CopyResumeError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except CopyMismatchError as exc:
            await context.abort(grpc.StatusCode.DATA_LOSS, str(exc))
        return pb.WriteFileResult(location=info.location, hash_md5=info.hash_md5, size=info.size)

    async def PullFile(
        self, request: pb.PullFileRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.PullFileProgress]:
        """Fetch a copy of another agent's record from the URL the control plane signed there."""
        h = request.header
        header = CopyHeader(h.record_id, h.path, h.size, h.hash_md5)
        try:
            async for step in pull(self._state.copies, header, request.url, max(request.bandwidth_bps, 0)):
                message = pb.PullFileProgress(resumed_from=step.resumed_from, fetched=step.fetched)
                if step.result is not None:
                    info = step.result
                    message.result.CopyFrom(
                        pb.WriteFileResult(location=info.location, hash_md5=info.hash_md5, size=info.size)
                    )
                yield message
        except FileAccessError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except PullRefusedError as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except UnknownRecordError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"the source has no file of record {h.record_id}")
        except (CopyBusyError, SourceError) as exc:
            await context.abort(grpc.StatusCode.ABORTED, str(exc))
        except CopyMismatchError as exc:
            await context.abort(grpc.StatusCode.DATA_LOSS, str(exc))


@dataclass(frozen=True)
class _File:
    """What the file handlers need of a recording's file or of a sync copy."""

    path: Path
    growing: bool
    hash_md5: str  # empty until a recording's file is finished


async def _data(messages: AsyncIterator[pb.WriteFileChunk]) -> AsyncIterator[bytes]:
    """The bytes of the WriteFile messages after the header; a second header is the caller's error."""
    async for message in messages:
        if message.WhichOneof("part") != "data":
            raise FileAccessError("WriteFile: only data messages may follow the header")
        yield message.data
