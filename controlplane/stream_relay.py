"""Fan-out of live fMP4 streams inside one control-plane process: however many viewers (HTTP
`stream.mp4`, the console's WebSocket tiles) watch a source, its agent sends one LiveStream to this
replica, which keeps the init segment and the fragments since the latest keyframe (shared.media_fanout)
so that a new viewer starts at once, and a slow viewer drops to the next keyframe instead of holding
the others back or growing memory.

The agent dials nothing: the control plane calls it over gRPC as for every other call, so an agent
behind NAT streams as well as one next door. Where the control plane reaches the agent's HTTP port
(as for proxied record files), the call asks for the items there (shared.live_frames: a gRPC message
costs the agent several times the CPU of an HTTP write); the call then holds the camera session and
brings the status pieces, and whichever of the two ends first ends the upstream."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable

import aiohttp
import grpc

from controlplane.agents.client import AgentClient
from controlplane.errors import AgentTimeoutError, AgentUnavailableError
from shared.live_frames import LIVE_PATH, FrameError, read_item
from shared.media_fanout import Fanout, Fragment, Init
from shared.rpc import agent_pb2 as pb
from shared.tasks import cancel_and_wait

# The items' HTTP answer is read for as long as viewers watch: a camera may send nothing for a while
# (the call's status pieces say why), and a dead agent ends the call (gRPC keepalive), which ends it.
_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5.0, sock_read=None)

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
        self.ticket = ""  # the items are on the agent's HTTP port under this ticket (shared.live_frames)

    def take(self, piece: pb.MediaPiece) -> None:
        if piece.http_ticket:
            self.ticket = piece.http_ticket
        if piece.init:
            self.fanout.set_init(Init(piece.data, piece.codecs))
        elif piece.data:
            self.fanout.push(Fragment(piece.data, piece.keyframe, piece.wallclock_unix or None))
        if piece.status != self.status and (piece.status or piece.data):
            self.status = piece.status
            self._status_changed()

    def take_item(self, item: Init | Fragment) -> None:
        """An item from the agent's HTTP port: video comes, so no status any more."""
        if isinstance(item, Init):
            self.fanout.set_init(item)
        else:
            self.fanout.push(item)
        if self.status:
            self.status = ""
            self._status_changed()

    def _status_changed(self) -> None:
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
        open_call: Callable[[bool], grpc.aio.UnaryStreamCall],
        source_id: int,
        first_timeout_s: float,
        http: tuple[aiohttp.ClientSession, str] | None = None,
    ) -> Upstream:
        """The running upstream of `key`, or a new one whose init segment is already here (so a camera
        that fails is still an HTTP error, not a stream that ends at once). `open_call(over_http)`
        opens the agent's call; `http`: the session and base URL of the agent's HTTP port, to read the
        items from. The items come on the call itself without it, from an agent that gives no ticket
        (an older one), or when its HTTP port does not answer (not reachable from here)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            upstream = self._upstreams.get(key)
            if upstream is not None and upstream.fanout.ended is None:
                return upstream
            upstream = await self._open(key, client, open_call(http is not None), source_id, first_timeout_s)
            items = None
            if http is not None and upstream.ticket:
                items = await self._items(
                    upstream, http[0], http[1] + LIVE_PATH.format(ticket=upstream.ticket)
                )
                if items is None:
                    upstream.call.cancel()
                    upstream = await self._open(key, client, open_call(False), source_id, first_timeout_s)
            upstream.task = asyncio.create_task(self._pump(upstream, items), name=f"stream-relay-{key}")
            self._upstreams[key] = upstream
            return upstream

    async def _open(
        self,
        key: Hashable,
        client: AgentClient,
        call: grpc.aio.UnaryStreamCall,
        source_id: int,
        first_timeout_s: float,
    ) -> Upstream:
        upstream = Upstream(key, client, call)
        try:
            await self._read_init(upstream, source_id, first_timeout_s)
        except BaseException:
            call.cancel()
            raise
        return upstream

    async def _items(
        self, upstream: Upstream, http: aiohttp.ClientSession, url: str
    ) -> aiohttp.ClientResponse | None:
        """The agent's answer with the items, or None (logged) when its HTTP port does not give it."""
        try:
            response = await http.get(
                url, headers={"Accept-Encoding": "identity"}, allow_redirects=False, timeout=_HTTP_TIMEOUT
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "agent %s: live items not read from its HTTP port (%s); over gRPC instead",
                upstream.client.name,
                type(exc).__name__,
            )
            return None
        if response.status != 200:
            response.release()
            log.warning(
                "agent %s answered %s for live items; over gRPC instead",
                upstream.client.name,
                response.status,
            )
            return None
        return response

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

    async def _pump(self, upstream: Upstream, items: aiohttp.ClientResponse | None) -> None:
        reason = "the agent ended the stream"
        try:
            if items is None:
                reason = await self._read_call(upstream)
            else:
                reason = await self._read_both(upstream, items)
        except grpc.aio.AioRpcError as exc:
            reason = upstream.client.translate(exc).message
        except aiohttp.ClientError as exc:
            reason = f"agent {upstream.client.name}'s HTTP port failed ({type(exc).__name__})"
        except FrameError as exc:
            reason = f"agent {upstream.client.name} sent a bad live item ({exc})"
        except Exception:  # the stream is the agent's; whatever ends it ends this upstream only
            log.exception("stream relay for %s failed", upstream.key)
            reason = "the relay failed"
        finally:
            upstream.call.cancel()
            if items is not None:
                items.close()  # not read to its end: the connection is not reused
            upstream.fanout.end(reason)
            if self._upstreams.get(upstream.key) is upstream:
                del self._upstreams[upstream.key]

    def _idle(self, upstream: Upstream) -> bool:
        """Whether nobody has watched for the linger time (a viewer that joined and never read counts)."""
        if upstream.fanout.reader_count:
            upstream.idle_since = time.monotonic()
            return False
        return time.monotonic() - upstream.idle_since > self._linger

    async def _read_call(self, upstream: Upstream) -> str:
        while True:
            piece = await upstream.call.read()
            if piece is grpc.aio.EOF:  # type: ignore[attr-defined]
                return "the agent ended the stream"
            assert isinstance(piece, pb.MediaPiece)
            upstream.take(piece)
            if self._idle(upstream):
                return "no viewers"

    async def _read_http(self, upstream: Upstream, response: aiohttp.ClientResponse) -> str:
        while True:
            try:
                item = await read_item(response.content.readexactly)
            except asyncio.IncompleteReadError:
                return "the agent ended the stream"
            upstream.take_item(item)
            if self._idle(upstream):
                return "no viewers"

    async def _read_both(self, upstream: Upstream, response: aiohttp.ClientResponse) -> str:
        """The items from the HTTP port and the status pieces from the call, until either ends."""
        call = asyncio.create_task(self._read_call(upstream), name=f"stream-call-{upstream.key}")
        items = asyncio.create_task(self._read_http(upstream, response), name=f"stream-items-{upstream.key}")
        tasks = {call, items}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            for task in tasks:  # what the other one met on its way out is not the reason: retrieved
                if not task.cancelled():
                    task.exception()
        return (items if items in done else call).result()  # the first to end says why (or raises)

    async def aclose(self) -> None:
        for upstream in list(self._upstreams.values()):
            if upstream.task is not None:
                await cancel_and_wait(upstream.task)
