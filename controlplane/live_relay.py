"""Fan-out of live frames inside one control-plane process: however many HTTP viewers watch a
source, its agent sends one gRPC stream to this replica, and each viewer is paced on its own.

Without it every viewer costs the agent a stream of its own (measured: 100 viewers took 4.5x the
agent CPU of one); with it the agent's cost stays that of one viewer per replica."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Hashable

from controlplane.agents.client import FrameStream
from shared.rpc import agent_pb2 as pb
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class _Feed:
    """One upstream stream and the latest frame it brought."""

    def __init__(self, key: Hashable, stream: FrameStream, first: pb.Image) -> None:
        self.key = key
        self.stream = stream
        self.latest = first
        self.latest_at = time.monotonic()
        self.seq = 1
        self.viewers = 0
        self.idle_since = time.monotonic()
        self.ended = False
        self.changed = asyncio.Condition()
        self.task: asyncio.Task[None] | None = None

    async def publish(self, image: pb.Image) -> None:
        async with self.changed:
            self.latest, self.latest_at, self.seq = image, time.monotonic(), self.seq + 1
            self.changed.notify_all()

    async def end(self) -> None:
        async with self.changed:
            self.ended = True
            self.changed.notify_all()

    async def next_after(self, seq: int, timeout_s: float) -> tuple[pb.Image, int] | None:
        """The latest frame once it is newer than `seq`; None when the stream ended or stalled."""
        async with self.changed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self.changed.wait_for(lambda: self.ended or self.seq > seq)
            if self.ended or self.seq <= seq:
                return None
            return self.latest, self.seq


class LiveRelay:
    def __init__(self, frame_timeout_s: float, linger_s: float = 5.0) -> None:
        self._feeds: dict[Hashable, _Feed] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._frame_timeout = frame_timeout_s
        self._linger = linger_s

    def latest(self, source_id: int, max_age_s: float) -> pb.Image | None:
        """The newest frame of a source watched through this replica, if fresh: a snapshot of a
        watched camera then costs no call to its agent."""
        for key, feed in self._feeds.items():
            fresh = time.monotonic() - feed.latest_at <= max_age_s
            if isinstance(key, tuple) and key[0] == source_id and not feed.ended and fresh:
                return feed.latest
        return None

    async def join(self, key: Hashable, open_stream: Callable[[], FrameStream]) -> _Feed:
        """The running feed of `key`, or a new one whose first frame is already here (so a camera
        that fails is still an HTTP error, not a stream that ends at once)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            feed = self._feeds.get(key)
            if feed is not None and not feed.ended:
                return feed
            stream = open_stream()
            first = await stream.first(timeout_s=self._frame_timeout)
            feed = _Feed(key, stream, first)
            feed.task = asyncio.create_task(self._pump(feed), name=f"live-relay-{key}")
            self._feeds[key] = feed
            return feed

    async def _pump(self, feed: _Feed) -> None:
        try:
            async for image in feed.stream.rest():
                await feed.publish(image)
                # Nobody watched for a while (a viewer that joined and never read counts too): stop.
                if feed.viewers == 0 and time.monotonic() - feed.idle_since > self._linger:
                    break
        except Exception:  # the stream is the agent's; whatever ends it ends this feed only
            log.exception("live relay for %s failed", feed.key)
        finally:
            feed.stream.cancel()
            await feed.end()
            if self._feeds.get(feed.key) is feed:
                del self._feeds[feed.key]

    async def frames(self, feed: _Feed, delay_s: float) -> AsyncIterator[pb.Image]:
        """One viewer: the latest frame every `delay_s`, never faster than frames arrive."""
        feed.viewers += 1
        try:
            seq, next_at = 0, None
            while True:
                got = await feed.next_after(seq, self._frame_timeout)
                if got is None:
                    return
                image, seq = got
                yield image
                now = time.monotonic()
                # Paced on a schedule from the first frame; never bursts to catch up after a slow one.
                next_at = now + delay_s if next_at is None or next_at + delay_s < now else next_at + delay_s
                await asyncio.sleep(next_at - now)
        finally:
            feed.viewers -= 1
            if feed.viewers == 0:
                feed.idle_since = time.monotonic()

    async def aclose(self) -> None:
        for feed in list(self._feeds.values()):
            if feed.task is not None:
                await cancel_and_wait(feed.task)
