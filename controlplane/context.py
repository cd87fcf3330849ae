"""What a running control plane holds for its lifetime, handed to requests through the lifespan state."""

from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.agents.pool import AgentPool
from controlplane.list_cache import ListCache
from controlplane.live_relay import LiveRelay
from controlplane.loop_lag import LoopLag
from controlplane.metrics import Metrics
from controlplane.quiet_beats import QuietBeats
from controlplane.settings import Settings
from controlplane.stream_relay import StreamRelay


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    agents: AgentPool
    live: LiveRelay
    metrics: Metrics = field(default_factory=Metrics)
    sync_wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when this replica adds sources: the placement loop places them now, not at its next look.
    placement_wake: asyncio.Event = field(default_factory=asyncio.Event)
    lists: ListCache = field(default_factory=ListCache)  # serialised lists by database version
    lag: LoopLag = field(default_factory=LoopLag)  # how late this replica's own loop has been
    # This process among the replicas (its lateness is written to the database under this name).
    replica: str = field(default_factory=lambda: f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}")
    quiet: QuietBeats = field(default_factory=QuietBeats)  # heartbeats with nothing new, written in bulk
    streams: StreamRelay = field(default_factory=StreamRelay)  # live fMP4, one upstream per source
