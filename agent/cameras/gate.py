"""Cold snapshots without a stampede: callers asking for the same camera at once share one grab,
and at most a few grabs (each an ffmpeg or an HTTP fetch) run on the agent at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from agent.cameras.spec import CameraSpec


class SnapshotGate:
    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        # Keyed by the whole spec: a source whose URL changed meanwhile gets a grab of its own.
        self._inflight: dict[CameraSpec, asyncio.Task[bytes]] = {}

    async def take(self, spec: CameraSpec, grab: Callable[[], Awaitable[bytes]]) -> bytes:
        task = self._inflight.get(spec)
        if task is None:
            task = asyncio.create_task(self._limited(grab), name=f"snapshot-{spec.source_id}")
            self._inflight[spec] = task
            task.add_done_callback(lambda _t: self._inflight.pop(spec, None))
        # Shielded: one caller giving up (a client gone) must not cancel the grab the others wait on.
        return await asyncio.shield(task)

    async def _limited(self, grab: Callable[[], Awaitable[bytes]]) -> bytes:
        async with self._slots:
            return await grab()
