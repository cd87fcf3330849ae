"""A time limit for async tests that ends them through their own event loop, never by a signal.

pytest-timeout's SIGALRM raises out of the middle of the event loop. anyio's test runner task is
then still inside the test's coroutine, so the teardown of every async fixture, queued behind it,
waits forever: one slow test hung a whole CI run (a worker idle in its teardown for 80 minutes).
Here the test's task is cancelled by the loop a little before pytest-timeout would fire, after the
stack of every task of the loop is printed: what the test was waiting for is in the report, and
its fixtures tear down as after any failure.
"""

from __future__ import annotations

import asyncio
import functools
import io
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

# Before pytest-timeout's own limit, so that the loop, not the signal, ends a stuck test.
MARGIN_S = 30.0


def task_stacks() -> str:
    """Every task of the running loop with the chain of awaits it is suspended in (a task's own
    stack shows only its outermost coroutine): what a hung test was stuck on."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        out.write(f"--- task {task.get_name()!r}\n")
        awaited: Any = task.get_coro()
        for _ in range(40):
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is None:
                if awaited is not None:
                    out.write(f"    waits on {awaited!r}\n"[:400])
                break
            out.write(f"    {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}\n")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return out.getvalue()


async def within(seconds: float, awaitable: Awaitable[T], what: str) -> T:
    """`awaitable` in the current task, cancelled after `seconds`: then AssertionError with the
    stacks of the loop's tasks at that moment (also printed, in case the cancellation is ignored)."""
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    assert current is not None
    stacks: list[str] = []

    def expire() -> None:
        stacks.append(task_stacks())
        sys.stderr.write(f"{what} still running after {seconds:.0f} s; the loop's tasks:\n{stacks[0]}")
        current.cancel(f"{what} ran for more than {seconds:.0f} s")

    timer = loop.call_later(seconds, expire)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if not stacks:
            raise
        current.uncancel()  # the runner task goes on to the fixtures' teardown and the next test
        raise AssertionError(
            f"{what} ran for more than {seconds:.0f} s; the loop's tasks:\n{stacks[0]}"
        ) from None
    finally:
        timer.cancel()


def bounded(test: Callable[..., Awaitable[T]], seconds: float) -> Callable[..., Awaitable[T]]:
    """The async test `test`, failed by `within` after `seconds`."""

    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> T:
        return await within(seconds, test(*args, **kwargs), "the test")

    return run
