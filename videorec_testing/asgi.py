"""The control plane's app called in process through ASGI, with its lifespan run: no server, no
socket, so that only the app's own work is measured or exercised."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from controlplane.app import create_app
from controlplane.settings import Settings


@contextlib.asynccontextmanager
async def in_process_client(
    settings: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, Mapping[str, Any]]]:
    """A client of the app, and the state its lifespan made (the app's context, for a bench that looks in)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:

        async def asgi(scope: dict, receive: object, send: object) -> None:
            scope["state"] = dict(state)  # what the lifespan made: ASGITransport runs none
            await app(scope, receive, send)  # type: ignore[arg-type]

        transport = httpx.ASGITransport(app=asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            yield client, state
