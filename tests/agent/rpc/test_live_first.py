"""The live call's first answer: a camera's failure is reported as the camera's, not as a time-out,
also while a recording of it clears the session's error between its attempts."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from agent.errors import CameraError, CameraFailure
from agent.rpc.live_stream import _first

pytestmark = pytest.mark.anyio


class _NoItems:
    async def next(self, timeout: float) -> object:
        await asyncio.sleep(timeout)
        raise TimeoutError


async def test_a_refusal_that_a_recordings_attempts_keep_clearing_is_told_as_the_cameras() -> None:
    refused = CameraError(7, "Connection refused", CameraFailure.UNREACHABLE)
    session = SimpleNamespace(
        error=None, fanout=SimpleNamespace(init=None), spec=SimpleNamespace(source_id=7)
    )

    async def flicker() -> None:  # a recording's attempt hands the session a feed (error None), fails
        while True:
            session.error = refused
            await asyncio.sleep(0.3)
            session.error = None
            await asyncio.sleep(0.3)

    task = asyncio.create_task(flicker())
    started = time.monotonic()
    try:
        with pytest.raises(CameraError) as raised:
            await _first(session, _NoItems(), 8.0)  # type: ignore[arg-type]
    finally:
        task.cancel()
    assert raised.value.reason is CameraFailure.UNREACHABLE and "refused" in raised.value.detail
    assert time.monotonic() - started < 6.0  # after the transient grace, not at the 8 s deadline


async def test_credentials_refused_are_told_at_once() -> None:
    session = SimpleNamespace(
        error=CameraError(7, "401 Unauthorized", CameraFailure.UNAUTHORIZED),
        fanout=SimpleNamespace(init=None),
        spec=SimpleNamespace(source_id=7),
    )
    started = time.monotonic()
    with pytest.raises(CameraError):
        await _first(session, _NoItems(), 8.0)  # type: ignore[arg-type]
    assert time.monotonic() - started < 0.5
