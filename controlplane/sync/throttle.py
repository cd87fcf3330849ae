"""The one bandwidth cap of a sync job: every destination gets its bytes through `metered`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable


class Throttle:
    """Hold the average rate of bytes taken from the source at or under a cap (for thin site links)."""

    def __init__(self, bandwidth_bps: int | None) -> None:
        if bandwidth_bps is not None and bandwidth_bps <= 0:
            raise ValueError("bandwidth_bps must be positive")
        self._bps = bandwidth_bps
        self._started = time.monotonic()
        self._bytes = 0

    async def account(self, n: int) -> None:
        if not self._bps:
            return
        self._bytes += n
        # Sleep until the bytes seen so far would have taken this long at the cap.
        ahead = self._bytes / self._bps - (time.monotonic() - self._started)
        if ahead > 0:
            await asyncio.sleep(ahead)


async def metered(
    chunks: AsyncIterator[bytes], on_bytes: Callable[[int], None], bandwidth_bps: int | None
) -> AsyncIterator[bytes]:
    """Count what passes and cap its rate; the source is closed at once when the consumer stops."""
    throttle = Throttle(bandwidth_bps)
    try:
        async for chunk in chunks:
            yield chunk
            on_bytes(len(chunk))
            await throttle.account(len(chunk))
    finally:
        # Stop the source (a gRPC stream from an agent) now rather than when it is garbage-collected.
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
