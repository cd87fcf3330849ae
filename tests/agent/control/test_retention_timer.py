"""Retention runs on its own timer (`retention_interval_s`), not on the heartbeat's: it evicts while no
heartbeat goes out at all (the control plane away), with the protected tags last heard, and never
before the control plane has said which tags are protected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.control.retention import RetentionLoop
from agent.recording.manager import RecordManager
from agent.settings import AgentSettings
from videorec_testing.wait import await_until

pytestmark = pytest.mark.anyio


class Counting(RecordManager):
    """The real manager (on an empty storage root), counting its retention passes."""

    calls: list[set[str]]

    async def enforce_retention(self, protected_tags: set[str], now: float | None = None) -> list:  # type: ignore[override]
        self.calls.append(set(protected_tags))
        return await super().enforce_retention(protected_tags, now)


async def test_retention_runs_at_its_own_interval_with_no_heartbeat(tmp_path: Path) -> None:
    assert AgentSettings(_env_file=None).retention_interval_s == 5.0  # type: ignore[call-arg]
    records = Counting(tmp_path, "a1", "ffmpeg", None)  # type: ignore[arg-type]
    records.calls = []
    heard: dict[str, set[str] | None] = {"protected": None}
    loop = RetentionLoop(records, lambda: heard["protected"], interval_s=0.05)
    task = asyncio.create_task(loop.run())
    try:
        await asyncio.sleep(0.3)
        assert records.calls == []  # nothing said yet about protected tags: nothing evicted
        heard["protected"] = {"keep"}
        await await_until(lambda: len(records.calls) >= 4, 5, what="retention passes on its timer")
        assert all(call == {"keep"} for call in records.calls)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
