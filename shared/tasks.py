"""Ending a task from another one without losing the ender's own cancellation.

`task.cancel()` then `with suppress(CancelledError): await task` cannot tell the task's cancellation
from the caller's: a caller cancelled meanwhile (a hub's close, a shutdown) swallows its own cancel
and runs on. A live reader did exactly that and retried its camera for ever while the hub waited
for it. `asyncio.wait` never raises the awaited task's exception, only the caller's cancellation.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel `task` and wait until it is done; a failure of the task (not its cancellation) is
    raised here, and a cancellation of the caller goes on as usual."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
