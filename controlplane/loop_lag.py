"""How late this replica has been: a replica that is itself late must not take the silence it caused
for its agents' (their heartbeats waited in its queue or for its database, not on the network).

A task sleeps a short tick and notes by how much each wake-up overshot: how long a request that
arrived meanwhile waited before the loop got to it (its queueing time: with more work than CPU, every
ready request is served in turn, and the tick waits its turn like any of them). The heartbeat route
notes how long each beat that needed the database took (a pool with no connection free, a slow
database), reads both waits to shed load (`queue_s`) and notes each beat it shed; the failover check
asks for the worst over the window it is about to judge agents on."""

from __future__ import annotations

import asyncio
import time
from collections import deque

TICK_S = 0.1
KEEP_S = 600.0  # the longest window anyone asks about (failover_after_s is far shorter)
QUEUE_WINDOW_S = 1.0  # the queueing time is the worst tick of the last second
QUEUE_SAMPLES = 4  # beats that needed the database within that second, before their wait counts


class LoopLag:
    def __init__(self, tick_s: float = TICK_S) -> None:
        self.tick_s = tick_s
        self._late: deque[tuple[float, float]] = deque()  # (monotonic time, seconds late), late ones only
        self._ticks: deque[tuple[float, float]] = deque()  # the last second's ticks, (time, overshoot)
        self._woke = time.monotonic()  # the tick's last wake-up
        self._shed_at: float | None = None  # the last heartbeat shed (monotonic)
        self._served: deque[tuple[float, float]] = deque()  # the last second's full beats, (time, seconds)
        self._ticking_since: float | None = None  # when the tick started: its lateness counts a window later

    async def run(self) -> None:
        self._woke = self._ticking_since = time.monotonic()  # before: the service's start, no queue
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.tick_s)
            woke = time.monotonic()
            self.tick(woke - before - self.tick_s, woke)

    def tick(self, late_s: float, now: float) -> None:
        """The tick woke at `now`, `late_s` later than it asked."""
        self._woke = now
        self._ticks.append((now, late_s))
        while self._ticks and self._ticks[0][0] < now - QUEUE_WINDOW_S:
            self._ticks.popleft()
        self.note(late_s, now)

    def note(self, late_s: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if late_s > self.tick_s:  # only what matters is kept: a quiet loop keeps nothing
            self._late.append((now, late_s))
        while self._late and self._late[0][0] < now - KEEP_S:
            self._late.popleft()

    def served(self, seconds: float, now: float | None = None) -> None:
        """A beat that needed the database took `seconds` from its route's start to its answer."""
        now = time.monotonic() if now is None else now
        self._served.append((now, seconds))
        while self._served and self._served[0][0] < now - QUEUE_WINDOW_S:
            self._served.popleft()
        self.note(seconds, now)

    def queue_s(self, now: float | None = None) -> float:
        """How long a request waits before it is handled, now: the least late tick of the last second
        (every one of them late: a standing queue), or how overdue the tick is when it has not woken
        for a whole second (a loop stalled right now); or,
        when the loop keeps time but the database does not (its connections all busy, its host
        starved), the fastest beat of the last second that needed it: when even that one waited, the
        wait is a standing queue, not a burst (as CoDel tells them apart)."""
        now = time.monotonic() if now is None else now
        recent = [took for at, took in self._served if at >= now - QUEUE_WINDOW_S]
        database = min(recent) if len(recent) >= QUEUE_SAMPLES else 0.0  # one slow beat is no queue
        if self._ticking_since is None or now - self._ticking_since < QUEUE_WINDOW_S:
            # The replica's start (its caches filling, placement's first pass) stalls the loop once:
            # the beats that waited through it are served, not shed as if a queue stood (an agent's
            # first beat got 503 on a loaded machine). Until the tick has run for a window, and
            # before it runs at all, the loop's lateness is not known yet.
            return database
        ticks = [late for at, late in self._ticks if at >= now - QUEUE_WINDOW_S]
        # CoDel's test again: a standing queue makes every tick of the window late, one stall (a
        # collection, a moment without CPU on a loaded host) only one of them, and shedding after it
        # refused beats that had waited once and that no later beat would wait again (a lone agent's
        # beat got 503 on a loaded machine). A loop that has not ticked for a whole window is
        # stalled right now: how overdue its tick is counts.
        loop = min(ticks) if ticks else self.overdue(now)
        return max(loop, database)

    def overdue(self, now: float | None = None) -> float:
        """How late the tick is at this moment (a loop busy right now: it has not noted it yet); 0 while
        the tick does not run (nothing measures the loop)."""
        if self._ticking_since is None:
            return 0.0
        now = time.monotonic() if now is None else now
        return max(0.0, now - self._woke - self.tick_s)

    def shed(self, now: float | None = None) -> None:
        """A heartbeat was refused for lateness: this replica is late, whatever its loop says next."""
        self._shed_at = time.monotonic() if now is None else now

    def shed_since(self, seconds: float, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return self._shed_at is not None and self._shed_at >= now - seconds

    def worst_since(self, seconds: float, now: float | None = None) -> float:
        """The longest stall of the loop within the last `seconds` (0 when it kept time)."""
        now = time.monotonic() if now is None else now
        return max((late for at, late in self._late if at >= now - seconds), default=0.0)
