"""How late this replica has been: a replica that is itself late must not take the silence it caused
for its agents' (their heartbeats waited in its queue or for its database, not on the network).

A task sleeps a short tick and notes by how much each wake-up overshot (a stalled event loop), and
the heartbeat route notes how long each beat took to answer (a loop starved of CPU, a pool with no
connection free, a slow database); the failover check asks for the worst over the window it is
about to judge agents on."""

from __future__ import annotations

import asyncio
import time
from collections import deque

TICK_S = 0.1
KEEP_S = 600.0  # the longest window anyone asks about (failover_after_s is far shorter)


class LoopLag:
    def __init__(self, tick_s: float = TICK_S) -> None:
        self.tick_s = tick_s
        self._late: deque[tuple[float, float]] = deque()  # (monotonic time, seconds late), late ones only
        self.started = time.monotonic()

    async def run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.tick_s)
            self.note(time.monotonic() - before - self.tick_s)

    def note(self, late_s: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if late_s > self.tick_s:  # only what matters is kept: a quiet loop keeps nothing
            self._late.append((now, late_s))
        while self._late and self._late[0][0] < now - KEEP_S:
            self._late.popleft()

    def worst_since(self, seconds: float, now: float | None = None) -> float:
        """The longest stall of the loop within the last `seconds` (0 when it kept time)."""
        now = time.monotonic() if now is None else now
        return max((late for at, late in self._late if at >= now - seconds), default=0.0)
