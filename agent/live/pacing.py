"""Frame pacing, written once: slots `interval_s` apart, the first at the first call.

Paced on a schedule, not "sleep after send", so the rate does not drift. Two ways to be late:
a viewer skips the slots it missed (`next_delay`: never a burst to catch up), while a time-lapse
recording writes one frame per slot (`due`: its video time must follow the wall clock)."""

from __future__ import annotations

import time


class Pacer:
    def __init__(self, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self._t0: float | None = None
        self._next: float | None = None

    def next_delay(self) -> float:
        """Seconds until the next slot (≤ 0: now); more than a slot late starts the schedule anew."""
        now = time.monotonic()
        if self._next is None or self._next + self.interval_s < now:
            self._next = now + self.interval_s
        else:
            self._next += self.interval_s
        return self._next - now

    def due(self) -> int:
        """How many slots have begun since the first call (1 at once), catching up after a delay."""
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        return int((now - self._t0) / self.interval_s) + 1

    def until_slot(self, slot: int) -> float:
        """Seconds until slot `slot` (counted from 0, as `due` counts) begins."""
        start = self._t0 if self._t0 is not None else time.monotonic()
        return start + slot * self.interval_s - time.monotonic()
