"""The one way the suite waits: poll a condition until it holds, never a fixed sleep.

`wait_until` for plain code, `await_until` inside an event loop (where a blocking poll would stop the
very thing being waited for). Both return the condition's first truthy value and fail with what was
awaited and the last exception the check raised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _timed_out(timeout: float, what: str, check: object, last_exc: Exception | None) -> AssertionError:
    return AssertionError(f"timed out after {timeout} s waiting for {what or check}: {last_exc!r}")


def wait_until(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.05, what: str = "") -> T:
    """Poll `check` until it returns something truthy (exceptions count as "not yet")."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the thing may not be up yet
            last_exc = exc
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, what, check, last_exc)
        time.sleep(interval)


async def await_until(
    check: Callable[[], T], timeout: float = 15.0, interval: float = 0.1, what: str = ""
) -> T:
    """`wait_until` for a test running in the event loop: the loop goes on between the checks."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, what, check, last_exc)
        await asyncio.sleep(interval)


def wait_quiet(busy: Callable[[], object], quiet_s: float, timeout: float = 30.0, what: str = "") -> None:
    """Until `busy()` has been falsy for `quiet_s` in a row (e.g. no probe ffmpeg for two seconds)."""
    since = time.monotonic()

    def quiet() -> bool:
        nonlocal since
        if busy():
            since = time.monotonic()
        return time.monotonic() - since >= quiet_s

    wait_until(quiet, timeout, what=what or f"{quiet_s} s quiet")
