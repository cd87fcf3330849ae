"""An agent told 503 with Retry-After waits that long (at most a minute) before its next beat; any
other failure keeps the ordinary back-off."""

from __future__ import annotations

import httpx
import pytest

from agent.control.heartbeat import retry_after


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
