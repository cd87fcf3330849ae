"""The agent's one restart policy: exponential back-off, capped, with jitter, on the given error only."""

from __future__ import annotations

import pytest

from agent.restart import restart_policy


class Down(Exception):
    """The upstream failed; worth another attempt."""


async def waits_before_success(failures: int, **policy: float) -> list[float]:
    """Run an attempt that fails `failures` times; return the waits the policy asked for."""
    waits: list[float] = []

    async def record(seconds: float) -> None:  # no real sleeping: the waits are the subject
        waits.append(seconds)

    attempts = 0
    async for attempt in restart_policy(Down, sleep=record, **policy):  # type: ignore[arg-type]
        with attempt:
            attempts += 1
            if attempts <= failures:
                raise Down
    assert attempts == failures + 1
    return waits


@pytest.mark.anyio
async def test_waits_double_from_the_first_up_to_the_cap_with_at_most_half_a_second_of_jitter() -> None:
    waits = await waits_before_success(8, first_s=0.5, max_s=5.0)
    base = [min(0.5 * 2**n, 5.0) for n in range(8)]  # 0.5, 1, 2, 4, 5, 5, 5, 5
    assert len(waits) == 8
    for wait, expected in zip(waits, base, strict=True):
        assert expected <= wait <= min(expected + 0.5, 5.0), (waits, base)
    assert waits[-1] <= 5.0  # capped, jitter included


@pytest.mark.anyio
async def test_jitter_spreads_cameras_that_fail_together() -> None:
    # Ten upstreams failing at the same moment must not all retry in step.
    first_waits = {(await waits_before_success(1, first_s=1.0, max_s=30.0))[0] for _ in range(10)}
    assert len(first_waits) > 1, first_waits
    assert all(1.0 <= w <= 1.5 for w in first_waits), first_waits


@pytest.mark.anyio
async def test_other_errors_are_not_retried() -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    with pytest.raises(KeyError):
        async for attempt in restart_policy(Down, first_s=0.5, max_s=5.0, sleep=record):
            with attempt:
                raise KeyError("a bug, not an outage")
    assert waits == []
