"""Runs one agent: the gRPC server, the heartbeat to the control plane and the camera prober,
until SIGINT/SIGTERM, then stops them in order."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import httpx
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # stubs lag grpcio

from agent.cameras.gate import SnapshotGate
from agent.cameras.prober import Prober
from agent.control.heartbeat import HeartbeatLoop
from agent.control.retention import RetentionLoop
from agent.files.copies.store import CopyStore
from agent.live import LiveHub
from agent.metrics_registry import REGISTRY
from agent.ops import metrics as ops_metrics
from agent.ops import server as ops_server
from agent.ops.media import MediaFiles
from agent.ops.server import Readiness
from agent.recording.journal import journal_key
from agent.recording.manager import RecordManager
from agent.rpc.server import create_server, mark_serving
from agent.rpc.servicer import AgentServicer
from agent.runtime import RuntimeState
from agent.settings import AgentSettings
from shared.logs import configure as configure_logging
from shared.media_urls import media_key
from shared.net import is_loopback

log = logging.getLogger("agent")


async def run_agent(settings: AgentSettings, stop: asyncio.Event) -> None:
    settings.storage_root.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http:
        hub = LiveHub(http, settings.ffmpeg_bin, fps=settings.live_fps, linger_s=settings.live_linger_s)
        records = RecordManager(
            settings.storage_root,
            settings.name,
            settings.ffmpeg_bin,
            http,
            stall_timeout_s=settings.stall_timeout_s,
            max_backoff_s=settings.max_backoff_s,
            min_free_bytes=settings.min_free_bytes,
            retention_max_age_s=settings.retention_max_age_s,
            retention_max_bytes=settings.retention_max_bytes,
            capacity=settings.capacity,
            journal_key=journal_key(settings.token.get_secret_value()) if settings.token else None,
            sessions=hub.sessions,
        )
        prober = Prober(
            http,
            hub,
            interval_s=settings.probe_interval_s,
            timeout_s=settings.probe_timeout_s,
            ffmpeg_bin=settings.ffmpeg_bin,
            busy=records.receiving_video,
        )
        # Resume (or finalise) what the journal says was recording when the agent last stopped.
        await records.open()
        copies = CopyStore(settings.storage_root, settings.name)
        state = RuntimeState(
            settings=settings,
            http=http,
            hub=hub,
            prober=prober,
            records=records,
            copies=copies,
            snapshots=SnapshotGate(settings.snapshot_concurrency),
        )
        health_servicer = health_aio.HealthServicer()
        server, port = create_server(settings, AgentServicer(state), health_servicer)
        state.address = settings.advertise_address or f"{settings.grpc_host}:{port}"
        await server.start()
        await mark_serving(health_servicer)
        # The one line a launcher or a test reads to learn where the agent listens.
        print(f"videorec agent {settings.name} listening on {state.address}", flush=True)
        token = settings.token.get_secret_value() if settings.token else None
        beat = HeartbeatLoop(
            http,
            settings.controlplane_url,
            token,
            settings.heartbeat_retry_s,
            settings.heartbeat_retry_max_s,
            state.facts,
            prober,
            records,
        )

        def reserve() -> int:
            return records.reserve_bytes

        collector = ops_metrics.AgentCollector(settings, records, prober, reserve)
        REGISTRY.register(collector)
        readiness = Readiness(settings, reserve, lambda: beat.connected)
        media = MediaFiles(records, media_key(token, settings.name) if token else None, copies)
        ops_runner, http_port = await ops_server.start(
            readiness, settings.http_host, settings.http_port, media, hub.sessions.tickets
        )
        state.http_address = http_address(settings.http_host, http_port, state.address)
        print(f"videorec agent {settings.name} http on {state.http_address}", flush=True)
        if is_loopback(settings.http_host) and not is_loopback(state.address.rsplit(":", 1)[0]):
            # Reachable from this host only, while the control plane dials it from elsewhere: report
            # no HTTP port, so its files go over gRPC rather than to an address nobody can reach.
            log.warning(
                "the HTTP port listens on %s only: set VIDEOREC_AGENT_HTTP_HOST for direct downloads "
                "and sync pulls; until then this agent's files go over gRPC",
                settings.http_host,
            )
            state.http_address = ""
        elif _host_of(state.http_address) != _host_of(state.address):
            # The control plane takes an HTTP port only on the host it dials for gRPC (it would relay
            # whatever another host answered): files go over gRPC instead.
            log.warning(
                "the HTTP port is on %s, not on the gRPC address's host: set VIDEOREC_AGENT_HTTP_HOST to "
                "that host (or 0.0.0.0) for direct downloads; until then this agent's files go over gRPC",
                settings.http_host,
            )
            state.http_address = ""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(beat.run(), name="heartbeat")
                retention = RetentionLoop(records, lambda: beat.protected, settings.retention_interval_s)
                tasks.create_task(retention.run(), name="retention")
                tasks.create_task(prober.run(), name="prober")
                await stop.wait()
                raise _Stop
        except* _Stop:
            pass
        finally:
            log.info("agent %s stopping", settings.name)
            await server.stop(grace=3)
            await ops_runner.cleanup()
            REGISTRY.unregister(collector)
            await hub.aclose()
            await records.aclose()
            copies.close()


def http_address(host: str, port: int, grpc_address: str) -> str:
    """Where clients reach the HTTP port: its own host, or the gRPC address's host when it listens on
    every interface (a wildcard cannot be dialled)."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - compared with, not bound to
        host = grpc_address.rsplit(":", 1)[0]
    elif ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def _host_of(address: str) -> str:
    return address.rsplit(":", 1)[0].strip("[]").lower()


class _Stop(Exception):
    """Ends the task group: every loop is cancelled and awaited."""


def main() -> int:
    settings = AgentSettings()
    configure_logging(settings.log_level)
    # Recordings 0640 and folders 0750 (ffmpeg inherits this): the agent's group may read them,
    # nobody else; the journal, which holds camera URLs, makes itself 0600.
    os.umask(0o027)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_agent(settings, stop)

    asyncio.run(_main())
    return 0
