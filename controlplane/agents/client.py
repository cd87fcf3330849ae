"""A typed client for one agent. Every call has a deadline; every gRPC error leaves this module as
one of the control plane's own exceptions (mapped to HTTP once, in controlplane.errors)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc

from controlplane.errors import (
    AgentTimeoutError,
    AgentUnavailableError,
    BadLocationError,
    CameraUnavailableError,
    CopyVerificationError,
    NotFoundError,
    ServiceError,
)
from shared.rpc import agent_pb2 as pb
from shared.rpc import agent_pb2_grpc

T = TypeVar("T")
_STATUS = {code.value[0]: code for code in grpc.StatusCode}


class AgentClient:
    def __init__(self, name: str, channel: grpc.aio.Channel, token: str | None, timeout_s: float) -> None:
        self.name = name
        self._stub = agent_pb2_grpc.AgentStub(channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout = timeout_s

    def translate(self, exc: grpc.aio.AioRpcError, source_id: int | None = None) -> ServiceError:
        """The one place where a gRPC status becomes a control-plane error naming who failed."""
        return self.translate_status(exc.code(), exc.details() or "", source_id)

    def translate_status(
        self, code: grpc.StatusCode, details: str, source_id: int | None = None
    ) -> ServiceError:
        """`translate` for a status that came as data (one refused entry of a batch)."""
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            who = f"source {source_id}" if source_id is not None else "camera"
            return CameraUnavailableError(f"{who} on agent {self.name}: {details}")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return AgentTimeoutError(f"agent {self.name} did not answer within {self._timeout:g} s")
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return AgentUnavailableError(f"agent {self.name} refused the control plane's token")
        if code == grpc.StatusCode.NOT_FOUND:
            return NotFoundError("file on agent", f"{self.name} ({details})")
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return BadLocationError(details)
        if code == grpc.StatusCode.DATA_LOSS:
            return CopyVerificationError(f"agent {self.name} refused the copy: {details}")
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            return AgentUnavailableError(f"agent {self.name} is full: {details}")
        if code == grpc.StatusCode.UNAVAILABLE:
            return AgentUnavailableError(f"agent {self.name} is unreachable")
        return AgentUnavailableError(f"agent {self.name} failed: {code.name} {details}".strip())

    async def _unary(
        self,
        method: Callable[..., Awaitable[T]],
        request: object,
        *,
        timeout_s: float | None = None,
        source_id: int | None = None,
    ) -> T:
        """One unary (or client-streaming) call with its deadline, its errors translated once."""
        timeout = self._timeout if timeout_s is None else timeout_s
        try:
            return await method(request, timeout=timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            raise self.translate(exc, source_id) from None

    async def info(self) -> pb.AgentInfo:
        return await self._unary(self._stub.GetInfo, pb.GetInfoRequest())

    async def snapshot(self, source: pb.SourceSpec, timeout_s: float) -> pb.Image:
        request = pb.SnapshotRequest(source=source)
        return await self._unary(self._stub.Snapshot, request, timeout_s=timeout_s, source_id=source.id)

    async def test_image(self) -> pb.Image:
        return await self._unary(self._stub.TestImage, pb.TestImageRequest())

    async def start_record(self, record_id: str, tag_name: str, source: pb.SourceSpec) -> pb.RecordState:
        request = pb.StartRecordRequest(record_id=record_id, tag_name=tag_name, source=source)
        return await self._unary(self._stub.StartRecord, request, source_id=source.id)

    async def start_records(
        self, entries: list[tuple[str, str, pb.SourceSpec]], wait_s: float
    ) -> list[pb.RecordState | ServiceError]:
        """Start many records in one call (record id, tag, source each), in the order given; each
        is answered once its ffmpeg has opened the camera or its first attempt is over, at most
        `wait_s` after the agent got the call. A refused entry comes back as its own error."""
        request = pb.StartRecordsRequest(
            records=[
                pb.StartRecordRequest(record_id=record_id, tag_name=tag_name, source=source)
                for record_id, tag_name, source in entries
            ],
            wait_s=wait_s,
        )
        try:
            answer = await self._stub.StartRecords(
                request, timeout=wait_s + self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise self.translate(exc) from None
            # An agent older than StartRecords (a rolling upgrade): one call per record, as before.
            singles = await asyncio.gather(
                *(self.start_record(*entry) for entry in entries), return_exceptions=True
            )
            return [o if isinstance(o, pb.RecordState | ServiceError) else _reraise(o) for o in singles]
        by_id = {r.record_id: r for r in answer.results}
        outcomes: list[pb.RecordState | ServiceError] = []
        for record_id, _, source in entries:
            result = by_id.get(record_id)
            if result is None:
                outcomes.append(
                    AgentUnavailableError(f"agent {self.name} did not answer for record {record_id}")
                )
            elif result.HasField("state"):
                outcomes.append(result.state)
            else:
                outcomes.append(
                    self.translate_status(
                        _STATUS.get(result.error_code, grpc.StatusCode.UNKNOWN), result.error, source.id
                    )
                )
        return outcomes

    async def stop_record(self, record_id: str, timeout_s: float) -> pb.RecordState:
        """Waits until the agent has joined, verified and hashed the file."""
        request = pb.StopRecordRequest(record_id=record_id, wait=True)
        return await self._unary(self._stub.StopRecord, request, timeout_s=timeout_s)

    async def list_journal(
        self, since_unix: float, after_record_id: str, limit: int
    ) -> pb.ListJournalResponse:
        """One page of the agent's journal from (since_unix, after_record_id), oldest change first."""
        request = pb.ListJournalRequest(
            changed_since_unix=since_unix, after_record_id=after_record_id, limit=limit
        )
        return await self._unary(self._stub.ListJournal, request)

    async def stat_file(self, record_id: str, location: str) -> pb.FileStat:
        return await self._unary(self._stub.StatFile, pb.FileRef(record_id=record_id, location=location))

    async def delete_file(self, record_id: str, location: str) -> None:
        await self._unary(self._stub.DeleteFile, pb.FileRef(record_id=record_id, location=location))

    async def read_file(
        self, record_id: str, location: str, offset: int, length: int, chunk_size: int = 0
    ) -> AsyncIterator[bytes]:
        """The bytes of [offset, offset+length), streamed; memory stays at one chunk (0: the agent's
        default, 1 MiB; bulk copies ask for more to pay the per-message cost less often)."""
        request = pb.ReadFileRequest(
            file=pb.FileRef(record_id=record_id, location=location),
            offset=offset,
            length=length,
            chunk_size=chunk_size,
        )
        call = self._stub.ReadFile(request, metadata=self._metadata)
        try:
            async for chunk in call:
                yield chunk.data
        except grpc.aio.AioRpcError as exc:
            raise self.translate(exc) from None
        finally:
            call.cancel()

    async def write_file(
        self, header: pb.WriteFileHeader, chunks: AsyncIterator[bytes], timeout_s: float
    ) -> pb.WriteFileResult:
        """Stream a copy into this agent; it verifies size and MD5 before it keeps the file."""

        async def requests() -> AsyncIterator[pb.WriteFileChunk]:
            yield pb.WriteFileChunk(header=header)
            async for data in chunks:
                yield pb.WriteFileChunk(data=data)

        return await self._unary(self._stub.WriteFile, requests(), timeout_s=timeout_s)

    async def pull_file(
        self,
        request: pb.PullFileRequest,
        timeout_s: float,
        on_progress: Callable[[pb.PullFileProgress], None],
    ) -> pb.WriteFileResult:
        """Have this agent fetch a copy from the signed URL in `request`; it verifies size and MD5
        before it keeps the file. Cancelling the call stops the fetch (what it wrote is resumed later)."""
        call = self._stub.PullFile(request, timeout=timeout_s, metadata=self._metadata)
        try:
            async for progress in call:
                on_progress(progress)
                if progress.HasField("result"):
                    return progress.result
        except grpc.aio.AioRpcError as exc:
            raise self.translate(exc) from None
        finally:
            call.cancel()
        raise AgentUnavailableError(f"agent {self.name} ended the pull without its result")

    def live_frames(self, source: pb.SourceSpec, interval_s: float) -> FrameStream:
        call = self._stub.LiveFrames(
            pb.LiveFramesRequest(source=source, interval_s=interval_s), metadata=self._metadata
        )
        return FrameStream(self, call, source.id)

    def live_stream(self, source: pb.SourceSpec, *, over_http: bool = False) -> grpc.aio.UnaryStreamCall:
        """The camera's own video as fMP4 pieces (controlplane.stream_relay reads and cancels it);
        `over_http`: the fragments on the agent's HTTP port, a ticket in the first piece."""
        request = pb.LiveStreamRequest(source=source, over_http=over_http)
        return self._stub.LiveStream(request, metadata=self._metadata)

    def test_video(self, frames: int, interval_s: float) -> FrameStream:
        call = self._stub.TestVideo(
            pb.TestVideoRequest(frames=frames, interval_s=interval_s),
            timeout=self._timeout + frames * interval_s,
            metadata=self._metadata,
        )
        return FrameStream(self, call, None)


def _reraise(exc: BaseException) -> ServiceError:
    raise exc


class FrameStream:
    """A server-streaming call of images; the first frame is awaited before an HTTP answer starts,
    so a dead camera is a clean 502 rather than a stream that breaks at once."""

    def __init__(self, client: AgentClient, call: grpc.aio.UnaryStreamCall, source_id: int | None) -> None:
        self._client = client
        self._call = call
        self._source_id = source_id

    async def first(self, timeout_s: float) -> pb.Image:
        try:
            async with asyncio.timeout(timeout_s):
                image = await self._call.read()
        except TimeoutError:
            self.cancel()
            raise AgentTimeoutError(
                f"agent {self._client.name} sent no frame within {timeout_s:g} s"
            ) from None
        except grpc.aio.AioRpcError as exc:
            raise self._client.translate(exc, self._source_id) from None
        if image is grpc.aio.EOF:  # type: ignore[attr-defined]  # grpc-stubs lags grpcio
            raise AgentUnavailableError(f"agent {self._client.name} ended the stream before its first frame")
        assert isinstance(image, pb.Image)
        return image

    async def rest(self) -> AsyncIterator[pb.Image]:
        try:
            while True:
                image = await self._call.read()
                if image is grpc.aio.EOF:  # type: ignore[attr-defined]  # grpc-stubs lags grpcio
                    return
                assert isinstance(image, pb.Image)
                yield image
        except grpc.aio.AioRpcError:
            return  # the HTTP answer has started: all that is left is to end it
        finally:
            self.cancel()

    def cancel(self) -> None:
        self._call.cancel()
