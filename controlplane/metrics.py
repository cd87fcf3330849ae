"""Prometheus metrics of one control-plane process: its HTTP traffic, and the cluster's state as the
database has it (agents, records, sync), read when scraped so that every replica reports the same.

No label ever holds a URL, a camera address or a credential: routes are templates, agents are names."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane.data import agents as agents_data
from controlplane.data import records as records_data
from controlplane.data import sync_jobs as sync_jobs_data
from controlplane.db import utcnow
from controlplane.settings import Settings
from shared.enums import RecordStatus

# Seconds: a heartbeat, a list, a snapshot from a camera, a stop that joins files.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)


@dataclass
class ClusterSnapshot:
    """What the database says at scrape time."""

    heartbeat_age_s: dict[str, float] = field(default_factory=dict)
    agents_online: int = 0
    records: dict[str, int] = field(default_factory=dict)
    sync_jobs: dict[str, int] = field(default_factory=dict)
    sync_bytes_done: int = 0


class _ClusterCollector(Collector):
    def __init__(self) -> None:
        self.snapshot = ClusterSnapshot()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        snap = self.snapshot
        age = GaugeMetricFamily(
            "videorec_agent_heartbeat_age_seconds",
            "Seconds since each agent's last heartbeat",
            labels=["agent"],
        )
        for name, seconds in sorted(snap.heartbeat_age_s.items()):
            age.add_metric([name], seconds)
        yield age
        yield GaugeMetricFamily(
            "videorec_agents_online", "Agents whose heartbeats are current", snap.agents_online
        )
        records = GaugeMetricFamily("videorec_records", "Records by status", labels=["status"])
        for status in RecordStatus:
            records.add_metric([status.value], snap.records.get(status.value, 0))
        yield records
        jobs = GaugeMetricFamily("videorec_sync_jobs", "Sync jobs by status", labels=["status"])
        for job_status, count in sorted(snap.sync_jobs.items()):
            jobs.add_metric([job_status], count)
        yield jobs
        yield GaugeMetricFamily(
            "videorec_sync_bytes_done", "Bytes copied by every sync job so far", snap.sync_bytes_done
        )


class Metrics:
    """One registry per app, so that tests running several apps in one process stay apart."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "videorec_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "videorec_http_request_duration_seconds",
            "Time to the start of the answer (streams: to their first byte)",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        # This replica's share of the copying (sum them across replicas).
        self.sync_bytes = Counter(
            "videorec_sync_bytes",
            "Bytes copied and verified by this replica's sync jobs",
            registry=self.registry,
        )
        self.sync_failures = Counter(
            "videorec_sync_failures",
            "Records a sync job gave up on after its retries",
            registry=self.registry,
        )
        self.sync_mismatches = Counter(
            "videorec_sync_md5_mismatches",
            "Copies whose bytes did not hash to the record's MD5 (each attempt)",
            registry=self.registry,
        )
        self.heartbeats_quiet = Counter(
            "videorec_heartbeats_quiet",
            "Heartbeats this replica answered from memory, nothing new in them (no database work; their "
            "liveness is written in bulk every half second)",
            registry=self.registry,
        )
        self.heartbeats_full = Counter(
            "videorec_heartbeats_full",
            "Heartbeats that took the full exchange, by why: unread (no recent read of the database), "
            "unknown (first beat here, or new facts), assignment, reports (probes, records), stops",
            ["reason"],
            registry=self.registry,
        )
        self.heartbeats_shed = Counter(
            "videorec_heartbeats_shed",
            "Heartbeats this replica answered 503 with Retry-After because requests waited longer than "
            "heartbeat_shed_queue_s before they were handled (more work than CPU)",
            registry=self.registry,
        )
        self.failover_held = Counter(
            "videorec_failover_held",
            "Failover checks of this replica that declared no agent down although some were silent, by "
            "why: late (this replica's own loop stalled) or many_silent (too many agents at once)",
            ["reason"],
            registry=self.registry,
        )
        # An agent naming a site it is not bound to: a stolen token, or an agent set up wrongly.
        # Names are bounded: only a token the key issued gets this far.
        self.agent_site_refusals = Counter(
            "videorec_agent_site_refusals",
            "Heartbeats refused because they named a site other than the agent's own",
            ["agent"],
            registry=self.registry,
        )
        # Requests refused for want of authentication (401) or of a permission (403; the permission
        # is one of auth.roles.Permission, or "none" for refusals before any route: bounded labels).
        self.auth_refusals = Counter(
            "videorec_auth_refusals",
            "Requests refused: 401 (no valid credentials) or 403 (the role lacks the permission)",
            ["status", "permission"],
            registry=self.registry,
        )
        self.audit_write_failures = Counter(
            "videorec_audit_write_failures",
            "Audit entries that could not be written (the database was away): the request was answered",
            registry=self.registry,
        )
        self.cluster = _ClusterCollector()
        self.registry.register(self.cluster)

    async def refresh(self, session: AsyncSession, settings: Settings) -> None:
        now = utcnow()
        snap = ClusterSnapshot()
        for agent in await agents_data.list_all(session):
            if agent.last_seen_utc is not None:
                age = (now - agent.last_seen_utc).total_seconds()
                snap.heartbeat_age_s[agent.name] = age
                snap.agents_online += age <= settings.offline_after_s()
        snap.records = await records_data.count_by_status(session)
        for status, count, done in await sync_jobs_data.totals_by_status(session):
            snap.sync_jobs[status] = count
            snap.sync_bytes_done += done
        self.cluster.snapshot = snap


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (pure ASGI: streams pass through)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self.metrics.duration.labels(scope["method"], _route(scope)).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self.metrics.requests.labels(scope["method"], _route(scope), str(status)).inc()


def _route(scope: Scope) -> str:
    """The template (/api/v1/source/{source_id}), never the path: ids and names would explode the series.

    Rebuilt from the path and its parameters because a route nested in a prefixed router knows only
    its own part of the template."""
    if scope.get("route") is None:
        return "unmatched"
    segments = str(scope["path"]).rstrip("/").split("/")
    for name, value in (scope.get("path_params") or {}).items():
        for i in range(len(segments) - 1, 0, -1):
            if segments[i] == str(value):
                segments[i] = "{" + name + "}"
                break
    return "/".join(segments) or "/"
