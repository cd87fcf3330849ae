"""One gRPC channel per agent address, and one HTTP connection pool for the agents' HTTP ports
(proxied downloads), reused by every request of this process."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import grpc

from controlplane.agents.client import AgentClient
from controlplane.models import Agent

_OPTIONS = [
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    # Notice a dead agent on an idle channel instead of waiting for TCP to give up.
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 5_000),
]


class AgentPool:
    def __init__(
        self,
        token_for: Callable[[str, str | None], str | None],
        timeout_s: float,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self._token_for = token_for  # each agent checks the token it was issued
        self._credentials = credentials
        self._timeout = timeout_s
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._http: aiohttp.ClientSession | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        """For URLs the control plane signed on an agent's HTTP port (proxied downloads): aiohttp, whose
        C parser and large reads relay a file several times faster than httpx does (bench/range_read.py).
        Created on first use, inside the running event loop; `timeout_s` between two reads."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=5.0, sock_read=self._timeout),
                # The bytes are relayed as the agent sent them, never decoded in between.
                auto_decompress=False,
                read_bufsize=2**20,  # fewer pauses of the socket reads (a little less CPU per MiB)
                # A download holds its connection for as long as the client reads: no cap on how many.
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
            )
        return self._http

    def client(self, agent: Agent) -> AgentClient:
        """A client for `agent` as its row has it: the address to dial, and the site its token names."""
        address = agent.address
        channel = self._channels.get(address)
        if channel is None:
            if self._credentials is not None:
                channel = grpc.aio.secure_channel(address, self._credentials, options=_OPTIONS)
            else:
                channel = grpc.aio.insecure_channel(address, options=_OPTIONS)
            self._channels[address] = channel
        return AgentClient(agent.name, channel, self._token_for(agent.name, agent.token_site), self._timeout)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(grace=None)
        self._channels.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None
