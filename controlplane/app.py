"""Builds the FastAPI application for one set of settings."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncEngine

from controlplane import __version__, console, journal_sync, schema, sealed
from controlplane.agents.pool import AgentPool
from controlplane.api.access import document_permissions
from controlplane.api.audit_trail import AuditTrail
from controlplane.api.edge import EdgeGuard
from controlplane.api.main import api_router, internal_router, live_ws_router, selftest_router
from controlplane.api.routes import health
from controlplane.api.slashes import TrailingSlashMiddleware
from controlplane.context import AppContext
from controlplane.db import make_engine, make_sessionmaker, private_sqlite_file, sync_clock
from controlplane.errors import install_handlers
from controlplane.live_relay import LiveRelay
from controlplane.metrics import Metrics, MetricsMiddleware
from controlplane.placement import loop as placement_loop
from controlplane.services import audit, camera_policy, recording
from controlplane.services import sources as sources_service
from controlplane.settings import Settings
from controlplane.sync.runner import SyncRunner

log = logging.getLogger(__name__)
_SHUTDOWN_WAIT_S = 5.0
CLOCK_SYNC_S = 30.0


async def _keep_clock(engine: AsyncEngine) -> None:
    """Follow the database's clock: liveness and leases compare times that other replicas wrote."""
    while True:
        try:
            await sync_clock(engine)
        except Exception as exc:  # a database away for a while must not end the loop
            log.warning("could not read the database clock: %s", exc)
        await asyncio.sleep(CLOCK_SYNC_S)


async def _seal_secrets(engine: AsyncEngine, settings: Settings) -> None:
    key = settings.secrets_key
    sealed.configure(
        key.get_secret_value() if key else None, [k.get_secret_value() for k in settings.secrets_old_keys]
    )
    async with make_sessionmaker(engine)() as session:
        count = await sources_service.reseal_secrets(session)
        await session.commit()
    if count:
        log.info("sealed %d camera secrets with the current secrets key", count)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, AppContext]]:
        url = settings.resolved_database_url()
        private_sqlite_file(url)
        engine = make_engine(url, settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_s)
        # The quiet beats' flush keeps every steady agent alive (and quiet): a connection of its own,
        # so that it never waits behind full exchanges for the pool (it failed so under overload, and
        # every beat then took the full exchange). SQLite has one writer anyway: the same engine.
        liveness = engine if url.startswith("sqlite") else make_engine(url, 1, 0, settings.db_pool_timeout_s)
        if settings.migrates_on_start():
            await schema.upgrade(engine)
        else:
            await schema.require_head(engine)
        await _seal_secrets(engine, settings)
        clock = asyncio.create_task(_keep_clock(engine), name="db-clock")
        agents = AgentPool(
            settings.agent_token_for, settings.grpc_timeout_s, settings.agent_channel_credentials()
        )
        live = LiveRelay(frame_timeout_s=settings.grpc_timeout_s)
        ctx = AppContext(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            agents=agents,
            live=live,
            metrics=metrics,
        )
        runner = asyncio.create_task(SyncRunner(ctx).run(), name="sync-runner")
        placing = asyncio.create_task(placement_loop.run(ctx, recording.launch), name="placement")
        lag = asyncio.create_task(ctx.lag.run(), name="loop-lag")
        quiet = asyncio.create_task(
            ctx.quiet.run(
                make_sessionmaker(liveness), settings, camera_policy.networks_of(settings), ctx.lag
            ),
            name="quiet-beats",
        )
        journals = asyncio.create_task(journal_sync.run(ctx), name="journal-sync")
        purge = asyncio.create_task(audit.purge_loop(ctx.sessions, settings), name="audit-purge")
        # Everything made so far (modules, the app, its routes and models, SQLAlchemy's metadata) lives
        # as long as the process: out of the collector's reach, a full collection has little left to
        # walk. Without this, full collections paused the loop for 50-100 ms and set every list's p99
        # (bench/rest_list.py: p99 of a 304 went from 72-100 ms to 10-13 ms).
        gc.freeze()
        try:
            yield {"ctx": ctx}
        finally:
            loops = (quiet, purge, journals, lag, placing, runner, clock)
            for task in loops:
                task.cancel()
            # Bounded: a loop cancelled inside a SQLite call (aiosqlite's worker thread) has been
            # seen never to finish; a stop must not hang on it (the database is closed below).
            _, stuck = await asyncio.wait(loops, timeout=_SHUTDOWN_WAIT_S)
            if stuck:
                log.warning("shutting down without waiting for %s", sorted(t.get_name() for t in stuck))
            await live.aclose()
            await ctx.streams.aclose()
            await agents.close()
            try:
                async with asyncio.timeout(_SHUTDOWN_WAIT_S):
                    await engine.dispose()
                    await liveness.dispose()
            except TimeoutError:
                log.warning("shutting down without closing every database connection")

    # Swagger UI and ReDoc from files the package ships, not a CDN: sites often have no internet.
    app = FastAPIOffline(
        title="videorec",
        version=__version__,
        description="Records whole groups of cameras under one tag. See SPEC.md for the contract.",
        lifespan=lifespan,
        redirect_slashes=False,
    )
    install_handlers(app)
    app.state.retry_after_s = settings.overload_retry_after_s
    app.include_router(api_router)
    app.include_router(internal_router)
    app.include_router(live_ws_router)
    app.include_router(selftest_router)
    app.include_router(health.router)
    app.include_router(console.router)
    document_permissions(app)
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(EdgeGuard, settings=settings)
    if settings.cors_origins:
        # Outside the guard: a preflight is answered before it, and it lets these origins write.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Range"],
        )
    # Outside the edge and CORS: their refusals are written to the audit trail too.
    app.add_middleware(AuditTrail, metrics=metrics)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: refusals count too
    return app
