"""shared.tasks.cancel_and_wait: ending a task without swallowing the caller's own cancellation."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from shared.tasks import cancel_and_wait

pytestmark = pytest.mark.anyio


async def slow_to_end() -> None:
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        await asyncio.sleep(0.2)  # its clean-up (an ffmpeg being stopped)
        raise


async def old_way(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("ender", [cancel_and_wait, old_way])
async def test_a_caller_cancelled_while_it_ends_a_task_is_cancelled_too(ender) -> None:
    """The live reader's close cancelled it while it was ending its read: with the old way the reader
    took the cancel for its read's, went on and retried its camera for ever (a CI run hung)."""
    inner = asyncio.create_task(slow_to_end())
    await asyncio.sleep(0)
    ran_on = []

    async def close() -> None:
        await ender(inner)
        ran_on.append(True)

    outer = asyncio.create_task(close())
    await asyncio.sleep(0.05)  # it waits for the inner task's clean-up
    outer.cancel()
    await asyncio.wait({outer}, timeout=5)
    if ender is old_way:
        assert ran_on == [True]  # the flaw this module exists for
    else:
        assert outer.cancelled() and not ran_on
    await asyncio.wait({inner}, timeout=5)  # the task's own clean-up goes on to its end
    assert inner.cancelled()


async def test_a_task_that_failed_raises_its_error_and_one_cancelled_does_not() -> None:
    async def fails() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            raise RuntimeError("its clean-up failed")

    failing = asyncio.create_task(fails())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="clean-up"):
        await cancel_and_wait(failing)
    quiet = asyncio.create_task(asyncio.sleep(30))
    await cancel_and_wait(quiet)
    assert quiet.cancelled()
