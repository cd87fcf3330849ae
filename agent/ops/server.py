"""The agent's HTTP port: probes, metrics, recordings for signed URLs (agent.ops.media), which
aiohttp sends with sendfile, and live items for the control plane's relay (agent.ops.live)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agent.live.tickets import LiveTickets
from agent.metrics_registry import REGISTRY
from agent.ops import live
from agent.ops.media import MediaFiles, add_routes
from agent.settings import AgentSettings

log = logging.getLogger(__name__)


@dataclass
class Readiness:
    """What /readyz checks, each a callable so the answer is always current."""

    settings: AgentSettings
    reserve_bytes: Callable[[], int]
    controlplane_connected: Callable[[], bool]

    async def problems(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if not await asyncio.to_thread(_writable, self.settings):
            found["storage"] = "not writable"
        free = shutil.disk_usage(self.settings.storage_root).free
        if free < self.reserve_bytes():
            found["disk"] = f"{free} bytes free, below the reserve of {self.reserve_bytes()}"
        if not self.controlplane_connected():
            found["controlplane"] = "heartbeats are not answered"
        return found


def _writable(settings: AgentSettings) -> bool:
    try:
        fd, name = tempfile.mkstemp(prefix=".readyz-", dir=settings.storage_root)
        os.close(fd)
        os.unlink(name)
        return True
    except OSError:
        return False


def make_app(
    readiness: Readiness, media: MediaFiles | None = None, tickets: LiveTickets | None = None
) -> web.Application:
    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        problems = await readiness.problems()
        if problems:
            return web.json_response({"status": "unready", "checks": problems}, status=503)
        return web.json_response({"status": "ready", "checks": {}})

    async def metrics(_request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, REGISTRY)  # stats files: off the event loop
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if media is not None:
        add_routes(app, media)
    if tickets is not None:
        live.add_routes(app, tickets)
    return app


async def start(
    readiness: Readiness,
    host: str,
    port: int,
    media: MediaFiles | None = None,
    tickets: LiveTickets | None = None,
) -> tuple[web.AppRunner, int]:
    """Serve on host:port (0 picks one); returns the runner to clean up and the bound port."""
    # No access log: a signed URL is a credential until it expires.
    runner = web.AppRunner(make_app(readiness, media, tickets), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp exposes the bound port only here
    assert server is not None
    bound = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
    return runner, bound
