"""One gRPC channel per agent address, and one HTTP connection pool for the agents' HTTP ports
(proxied downloads), reused by every request of this process."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import httpx

from controlplane.agents.client import AgentClient

_OPTIONS = [
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    # Notice a dead agent on an idle channel instead of waiting for TCP to give up.
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 5_000),
]


class AgentPool:
    def __init__(
        self,
        token_for: Callable[[str], str | None],
        timeout_s: float,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self._token_for = token_for  # each agent checks the token it was issued
        self._credentials = credentials
        self._timeout = timeout_s
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """For URLs the control plane signed on an agent's HTTP port; `timeout_s` between bytes."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout, connect=5.0),
                follow_redirects=False,
                # A download holds its connection for as long as the client reads: no cap on how
                # many run at once, a few idle ones kept for the next ranges.
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            )
        return self._http

    def client(self, name: str, address: str) -> AgentClient:
        channel = self._channels.get(address)
        if channel is None:
            if self._credentials is not None:
                channel = grpc.aio.secure_channel(address, self._credentials, options=_OPTIONS)
            else:
                channel = grpc.aio.insecure_channel(address, options=_OPTIONS)
            self._channels[address] = channel
        return AgentClient(name, channel, self._token_for(name), self._timeout)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(grace=None)
        self._channels.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
