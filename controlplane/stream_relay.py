"""Fan-out of live fMP4 streams inside one control-plane process: however many viewers (HTTP
`stream.mp4`, the console's WebSocket tiles) watch a source, its agent sends one LiveStream to this
replica, which keeps the init segment and the fragments since the latest keyframe (shared.media_fanout)
so that a new viewer starts at once, and a slow viewer drops to the next keyframe instead of holding
the others back or growing memory.

The agent dials nothing: the control plane calls it over gRPC as for every other call, so an agent
behind NAT streams as well as one next door."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable

import grpc

from controlplane.agents.client import AgentClient
from controlplane.errors import AgentTimeoutError, AgentUnavailableError
from shared.media_fanout import Fanout, Fragment, Init
from shared.rpc import agent_pb2 as pb
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class Upstream:
    """One agent stream of one source and the fan-out of it."""

    def __init__(self, key: Hashable, client: AgentClient, call: grpc.aio.UnaryStreamCall) -> None:
        self.key = key
        self.client = client
        self.call = call
        self.fanout = Fanout()
        self.status = ""  # the agent's word on why no video comes (empty while it does)
        self.status_changed = asyncio.Event()
        self.idle_since = time.monotonic()
        self.task: asyncio.Task[None] | None = None

    def take(self, piece: pb.MediaPiece) -> None:
        if piece.init:
            self.fanout.set_init(Init(piece.data, piece.codecs))
        elif piece.data:
            self.fanout.push(Fragment(piece.data, piece.keyframe, piece.wallclock_unix or None))
        if piece.status != self.status and (piece.status or piece.data):
            self.status = piece.status
            self.status_changed.set()
            self.status_changed = asyncio.Event()


class StreamRelay:
    def __init__(self, linger_s: float = 5.0) -> None:
        self._upstreams: dict[Hashable, Upstream] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._linger = linger_s

    async def join(
        self,
        key: Hashable,
        client: AgentClient,
        open_call: Callable[[], grpc.aio.UnaryStreamCall],
        source_id: int,
        first_timeout_s: float,
    ) -> Upstream:
        """The running upstream of `key`, or a new one whose init segment is already here (so a camera
        that fails is still an HTTP error, not a stream that ends at once)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            upstream = self._upstreams.get(key)
            if upstream is not None and upstream.fanout.ended is None:
                return upstream
            call = open_call()
            upstream = Upstream(key, client, call)
            try:
                await self._read_init(upstream, source_id, first_timeout_s)
            except BaseException:
                call.cancel()
                raise
            upstream.task = asyncio.create_task(self._pump(upstream), name=f"stream-relay-{key}")
            self._upstreams[key] = upstream
            return upstream

    async def _read_init(self, upstream: Upstream, source_id: int, timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                while upstream.fanout.init is None:
                    piece = await upstream.call.read()
                    if piece is grpc.aio.EOF:  # type: ignore[attr-defined]  # grpc-stubs lags grpcio
                        raise AgentUnavailableError(
                            f"agent {upstream.client.name} ended the stream before its video"
                        )
                    assert isinstance(piece, pb.MediaPiece)
                    upstream.take(piece)
        except TimeoutError:
            raise AgentTimeoutError(
                f"agent {upstream.client.name} sent no video within {timeout_s:g} s"
            ) from None
        except grpc.aio.AioRpcError as exc:
            raise upstream.client.translate(exc, source_id) from None

    async def _pump(self, upstream: Upstream) -> None:
        reason = "the agent ended the stream"
        try:
            while True:
                piece = await upstream.call.read()
                if piece is grpc.aio.EOF:  # type: ignore[attr-defined]
                    break
                assert isinstance(piece, pb.MediaPiece)
                upstream.take(piece)
                if upstream.fanout.reader_count:
                    upstream.idle_since = time.monotonic()
                elif time.monotonic() - upstream.idle_since > self._linger:
                    reason = "no viewers"
                    break
        except grpc.aio.AioRpcError as exc:
            reason = upstream.client.translate(exc).message
        except Exception:  # the stream is the agent's; whatever ends it ends this upstream only
            log.exception("stream relay for %s failed", upstream.key)
            reason = "the relay failed"
        finally:
            upstream.call.cancel()
            upstream.fanout.end(reason)
            if self._upstreams.get(upstream.key) is upstream:
                del self._upstreams[upstream.key]

    async def aclose(self) -> None:
        for upstream in list(self._upstreams.values()):
            if upstream.task is not None:
                await cancel_and_wait(upstream.task)
