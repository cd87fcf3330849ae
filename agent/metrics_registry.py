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
# Sync pulls (agent.files.pull): bytes fetched from other agents, and bytes an interrupted pull had
# already written and did not fetch again.
PULLED_BYTES = Counter(
    "videorec_agent_sync_pulled_bytes",
    "Bytes of other agents' records fetched by sync pulls",
    registry=REGISTRY,
)
RESUMED_BYTES = Counter(
    "videorec_agent_sync_resumed_bytes",
    "Bytes of sync pulls kept from an interrupted earlier pull instead of fetched again",
    registry=REGISTRY,
)
