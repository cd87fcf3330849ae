"""Serve every path with and without its trailing slash, with no redirect (SPEC.md).

Routes are declared once, without the slash; this ASGI wrapper drops a trailing slash from the
request path before routing, so both spellings reach the same route and neither redirects."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class TrailingSlashMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                # In place, not a copy: the wrappers outside (metrics) read the route the router sets.
                scope["path"] = path.rstrip("/") or "/"
                raw = scope.get("raw_path")
                if isinstance(raw, bytes | bytearray) and raw.endswith(b"/"):
                    scope["raw_path"] = bytes(raw).rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
