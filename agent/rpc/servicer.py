"""The gRPC handlers of the agent: parse the request, call the camera-facing code or the record
manager, shape the answer. A handler raises the agent's errors; `@grpc_status` turns them into status
codes with the one table of `agent.rpc.status`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import grpc

from agent.cameras.snapshot import snapshot
from agent.errors import FileAccessError, FileGoneError, UnknownRecordError
from agent.ffmpeg import commands
from agent.ffmpeg.jpeg import JpegSplitter
from agent.ffmpeg.process import FfmpegProcess
from agent.files.copies.model import CopyHeader
from agent.files.copies.receive import receive
from agent.files.pull import pull
from agent.files.reads import read_range
from agent.live.decode import latest_still
from agent.live.pacing import Pacer
from agent.recording.lookup import find_file
from agent.recording.served import ServedFile
from agent.rpc.batch_start import START_CALLS, START_ENTRIES, start_records
from agent.rpc.convert import agent_info, record_state, spec_from_proto
from agent.rpc.journal_list import journal_page
from agent.rpc.live_stream import live_stream
from agent.rpc.status import grpc_status
from agent.runtime import RuntimeState
from shared.rpc import agent_pb2 as pb
from shared.rpc import agent_pb2_grpc

log = logging.getLogger(__name__)

MAX_TEST_FRAMES = 300


class AgentServicer(agent_pb2_grpc.AgentServicer):
    def __init__(self, state: RuntimeState) -> None:
        self._state = state
        self._settings = state.settings

    @grpc_status
    async def GetInfo(self, request: pb.GetInfoRequest, context: grpc.aio.ServicerContext) -> pb.AgentInfo:
        return agent_info(self._state.facts(), self._settings.storage_root)

    @grpc_status
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
        jpeg = await self._state.snapshots.take(
            spec,
            lambda: snapshot(
                spec, self._state.http, self._settings.snapshot_timeout_s, self._settings.ffmpeg_bin
            ),
        )
        return pb.Image(jpeg=jpeg, captured_unix=time.time())

    @grpc_status
    async def LiveFrames(
        self, request: pb.LiveFramesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Image]:
        spec = spec_from_proto(request.source)
        pacer = Pacer(request.interval_s if request.interval_s > 0 else 1.0)
        async with self._state.hub.subscribe(spec) as subscription:
            seq = 0
            while True:
                frame = await subscription.next_frame(seq, timeout=self._settings.snapshot_timeout_s)
                seq = frame.seq
                yield pb.Image(jpeg=frame.jpeg, captured_unix=frame.captured)
                await asyncio.sleep(pacer.next_delay())

    @grpc_status
    async def LiveStream(
        self, request: pb.LiveStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.MediaPiece]:
        spec = spec_from_proto(request.source)
        sessions, timeout_s = self._state.hub.sessions, self._settings.snapshot_timeout_s
        async for piece in live_stream(sessions, spec, timeout_s, over_http=request.over_http):
            yield piece

    @grpc_status
    async def TestImage(self, request: pb.TestImageRequest, context: grpc.aio.ServicerContext) -> pb.Image:
        argv = commands.test_image_argv(self._settings.ffmpeg_bin)
        async with FfmpegProcess(argv, name="test-image", stdout_pipe=True) as proc:
            assert proc.stdout is not None
            async with asyncio.timeout(self._settings.snapshot_timeout_s):
                data = await proc.stdout.read()
        jpegs = JpegSplitter().feed(data)
        if not jpegs:
            await context.abort(grpc.StatusCode.INTERNAL, "ffmpeg produced no test image")
        return pb.Image(jpeg=jpegs[0], captured_unix=time.time())

    @grpc_status
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

    @grpc_status
    async def StartRecord(
        self, request: pb.StartRecordRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordState:
        START_CALLS.labels("StartRecord").inc()
        START_ENTRIES.inc()
        spec = spec_from_proto(request.source)
        info = await self._state.records.start(
            request.record_id, request.tag_name, spec, request.source.ffmpeg_cmd or None
        )
        return record_state(info)

    @grpc_status
    async def StartRecords(
        self, request: pb.StartRecordsRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartRecordsResponse:
        return await start_records(self._state.records, request)

    @grpc_status
    async def ListJournal(
        self, request: pb.ListJournalRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListJournalResponse:
        return journal_page(self._state.records, request)

    @grpc_status
    async def StopRecord(
        self, request: pb.StopRecordRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordState:
        info = await self._state.records.stop(request.record_id, wait=request.wait)
        return record_state(info)

    @grpc_status
    async def StatFile(self, request: pb.FileRef, context: grpc.aio.ServicerContext) -> pb.FileStat:
        file = self._file(request)
        try:
            size = file.path.stat().st_size
        except FileNotFoundError:
            raise FileGoneError(request.record_id) from None
        return pb.FileStat(
            size=size, growing=file.growing, content_type="video/mp4", hash_md5=file.hash_md5 or ""
        )

    @grpc_status
    async def ReadFile(
        self, request: pb.ReadFileRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.FileChunk]:
        file = self._file(request.file)
        try:
            async for offset, data in read_range(
                file.path, request.offset, request.length, request.chunk_size
            ):
                yield pb.FileChunk(offset=offset, data=data)
        except FileNotFoundError:
            raise FileGoneError(request.file.record_id) from None

    def _file(self, ref: pb.FileRef) -> ServedFile:
        return find_file(self._state.records, self._state.copies, ref.record_id, ref.location)

    @grpc_status
    async def DeleteFile(
        self, request: pb.FileRef, context: grpc.aio.ServicerContext
    ) -> pb.DeleteFileResponse:
        try:
            await self._state.copies.delete(request.record_id, request.location)
        except UnknownRecordError:  # not a copy: one of the agent's own recordings, or nothing
            await self._state.records.delete_file(request.record_id, request.location)
        return pb.DeleteFileResponse(deleted=True)

    @grpc_status
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
        # Already kept and verified: answer before the bytes, so the caller can stop sending.
        info = copies.already_kept(header) or await receive(copies, header, _data(request_iterator))
        return pb.WriteFileResult(location=info.location, hash_md5=info.hash_md5, size=info.size)

    @grpc_status
    async def PullFile(
        self, request: pb.PullFileRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.PullFileProgress]:
        """Fetch a copy of another agent's record from the URL the control plane signed there."""
        h = request.header
        header = CopyHeader(h.record_id, h.path, h.size, h.hash_md5)
        async for step in pull(self._state.copies, header, request.url, max(request.bandwidth_bps, 0)):
            message = pb.PullFileProgress(resumed_from=step.resumed_from, fetched=step.fetched)
            if step.result is not None:
                info = step.result
                message.result.CopyFrom(
                    pb.WriteFileResult(location=info.location, hash_md5=info.hash_md5, size=info.size)
                )
            yield message


async def _data(messages: AsyncIterator[pb.WriteFileChunk]) -> AsyncIterator[bytes]:
    """The bytes of the WriteFile messages after the header; a second header is the caller's error."""
    async for message in messages:
        if message.WhichOneof("part") != "data":
            raise FileAccessError("WriteFile: only data messages may follow the header")
        yield message.data
