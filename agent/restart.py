"""The one restart policy of the agent's long-lived upstreams (a recording's ffmpeg runs, a live
reader's camera): a failed attempt is retried after an exponential back-off with jitter, capped;
an attempt that succeeded for a while returns and the caller starts the back-off anew.

As Frigate paces its ffmpeg restarts and MediaMTX rebuilds a recorder after a pause: a camera that is
down is asked again soon, but never in a tight loop, and many cameras do not retry in step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter


def restart_policy(
    retry_on: type[BaseException],
    *,
    first_s: float,
    max_s: float,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> AsyncRetrying:
    """Retry on `retry_on` forever, waiting first_s, 2×, 4× … up to max_s (plus up to 0.5 s jitter).

    `sleep` may end a wait early (a stop request); other exceptions propagate at once."""
    options: dict[str, object] = {}
    if sleep is not None:
        options["sleep"] = sleep
    if before_sleep is not None:
        options["before_sleep"] = before_sleep
    return AsyncRetrying(
        wait=wait_exponential_jitter(multiplier=first_s, max=max_s, jitter=0.5),
        retry=retry_if_exception_type(retry_on),
        reraise=True,
        **options,  # type: ignore[arg-type]
    )
