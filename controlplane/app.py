"""Builds the FastAPI application for one set of settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from controlplane import __version__
from controlplane.agents.pool import AgentPool
from controlplane.api.edge import EdgeGuard
from controlplane.api.main import api_router, internal_router, selftest_router
from controlplane.api.slashes import TrailingSlashMiddleware
from controlplane.context import AppContext
from controlplane.db import create_schema, make_engine, make_sessionmaker
from controlplane.errors import install_handlers
from controlplane.live_relay import LiveRelay
from controlplane.settings import Settings
from controlplane.sync.runner import SyncRunner


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, AppContext]]:
        url = settings.resolved_database_url()
        if url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(url)
        await create_schema(engine)
        token = settings.agent_token.get_secret_value() if settings.agent_token else None
        agents = AgentPool(token, settings.grpc_timeout_s, settings.agent_channel_credentials())
        live = LiveRelay(frame_timeout_s=settings.grpc_timeout_s)
        ctx = AppContext(
            settings=settings, engine=engine, sessions=make_sessionmaker(engine), agents=agents, live=live
        )
        runner = asyncio.create_task(SyncRunner(ctx).run(), name="sync-runner")
        try:
            yield {"ctx": ctx}
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await live.aclose()
            await agents.close()
            await engine.dispose()

    app = FastAPI(
        title="videorec",
        version=__version__,
        description="Records whole groups of cameras under one tag. See SPEC.md for the contract.",
        lifespan=lifespan,
        redirect_slashes=False,
    )
    install_handlers(app)
    app.include_router(api_router)
    app.include_router(internal_router)
    app.include_router(selftest_router)
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(EdgeGuard, settings=settings)
    if settings.cors_origins:
        # Outermost: a preflight is answered before the guard, which lets these origins write.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Range"],
        )
    return app
