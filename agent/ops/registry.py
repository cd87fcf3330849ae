"""The agent process's one metrics registry and the few series the recording path feeds directly
(everything else is read at scrape time by agent.ops.metrics). Imports nothing of the agent's, so
any module may use it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()

# Finalising a stopped record (join if needed, check, hash): the one step a stop waits for.
FINALISE_SECONDS = Histogram(
    "videorec_agent_finalise_duration_seconds",
    "Time from a record's stop to its file being final",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
    registry=REGISTRY,
)
EVICTIONS = Counter(
    "videorec_agent_retention_evictions",
    "Records deleted by retention, by the rule that required it",
    ["rule"],
    registry=REGISTRY,
)
