"""An agent told 503 with Retry-After waits that long (at most a minute) before its next beat, spread
so that agents refused together do not return together; any other failure keeps the ordinary
back-off, from the setting named for it."""

from __future__ import annotations

import httpx
import pytest

from agent.control.heartbeat import next_retry, retry_after
from agent.settings import AgentSettings


def _error(status: int, headers: dict[str, str]) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://cp.example/internal/v1/agent/heartbeat")
    response = httpx.Response(status, headers=headers, request=request)
    return httpx.HTTPStatusError("refused", request=request, response=response)


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (503, {"Retry-After": "2"}, 2.0),
        (503, {"Retry-After": "3600"}, 60.0),  # capped: a wrong header must not silence an agent
        (503, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, 0.0),
        (503, {}, 0.0),
        (500, {"Retry-After": "2"}, 0.0),
        (401, {}, 0.0),
    ],
)
def test_retry_after_is_read_from_a_503_only(status: int, headers: dict[str, str], wait: float) -> None:
    assert retry_after(_error(status, headers)) == wait


def test_a_connection_failure_has_no_retry_after() -> None:
    assert retry_after(httpx.ConnectError("refused")) == 0.0


def test_a_503_is_waited_out_in_full_and_agents_refused_together_come_back_spread() -> None:
    pauses = [next_retry(1, _error(503, {"Retry-After": "2"}), 2.0, 5.0) for _ in range(200)]
    assert all(2.0 <= p <= 3.0 for p in pauses)  # never sooner than asked
    assert max(pauses) - min(pauses) > 0.5  # spread, not all at once


def test_other_failures_back_off_from_the_retry_setting_up_to_its_maximum() -> None:
    refused = httpx.ConnectError("refused")
    first = [next_retry(1, refused, 2.0, 5.0) for _ in range(50)]
    assert all(1.8 <= p <= 2.2 for p in first) and len(set(first)) > 1
    assert all(4.5 <= next_retry(n, refused, 2.0, 5.0) <= 5.5 for n in (3, 10, 1000))


def test_the_old_heartbeat_interval_variable_still_sets_the_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """VIDEOREC_AGENT_HEARTBEAT_INTERVAL_S was this setting's name: deployments that set it keep working."""
    monkeypatch.setenv("VIDEOREC_AGENT_HEARTBEAT_INTERVAL_S", "3")
    assert AgentSettings(_env_file=None).heartbeat_retry_s == 3.0  # type: ignore[call-arg]
    monkeypatch.setenv("VIDEOREC_AGENT_HEARTBEAT_RETRY_S", "4")
    assert AgentSettings(_env_file=None).heartbeat_retry_s == 4.0  # type: ignore[call-arg]
