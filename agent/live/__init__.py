"""Live frames of sources: one upstream reader per source however many viewers (`reader`), the
fan-out and the readers' lifetimes (`hub`), and the frame-pacing schedule (`pacing`)."""

from agent.live.hub import LiveHub, Subscription
from agent.live.reader import Frame

__all__ = ["Frame", "LiveHub", "Subscription"]
