"""Waiting for the placement loop: no heartbeat places a source, the loop does a moment later (after
the agents that just joined have settled, controlplane.placement.loop)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from videorec_testing.wait import wait_until


def wait_placed(client: TestClient, source_id: int, beat: Callable[[], object], timeout: float = 20) -> str:
    """The agent `source_id` was placed on, calling `beat` meanwhile (agents must stay online)."""

    def agent() -> str | None:
        beat()
        return client.get(f"/api/v1/source/{source_id}").json()["agent"]  # type: ignore[no-any-return]

    return wait_until(agent, timeout, interval=0.2, what=f"source {source_id} placed")
