"""The HTTP edge, before any route runs: who may talk to the API at all, and how much they may send.

FastAPI reads and parses a request body before it runs the route's dependencies, so a bearer-token
dependency alone lets anyone make the service buffer any body. Here the token is checked from the
headers first, and bodies are capped while they are read. Without a token (local mode, loopback
only) the browser is the danger: a page on another site can post forms to 127.0.0.1, and a DNS name
rebound to 127.0.0.1 can read answers; so only loopback `Host` values and same-origin writes pass.
"""

from __future__ import annotations

import json
import secrets

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane.settings import Settings
from shared.net import is_loopback

# Routes behind the API token (the agents' heartbeat has its own credential, checked by its route).
TOKEN_PREFIXES = ("/api/", "/test/")
# Streams a record's bytes (verified by hash on an agent): capped by its own setting, not the JSON one.
IMPORT_PATH = "/api/v1/import"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(host: str) -> str:
    """The name of a `Host` header value, without its port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_is_loopback(host: str) -> bool:
    """`Host` header value (with or without port) naming this machine's loopback interface."""
    return is_loopback(host_name(host))


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _origin_matches_host(origin: str, host: str) -> bool:
    return origin.lower().split("://", 1)[-1].rstrip("/") == host.lower()


class EdgeGuard:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope, _headers(scope))
        if refusal is not None:
            status, detail = refusal
            await _answer(send, status, detail)
            return
        limit = self._body_limit(scope["path"])
        length = _headers(scope).get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _answer(send, 413, f"request body larger than {limit} bytes")
            return
        await self.app(scope, _capped(receive, limit), send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        path: str = scope["path"]
        s = self.settings
        if s.api_token is None:
            host = headers.get("host", "")
            if not host_is_loopback(host) and host_name(host) not in s.allowed_hosts:
                return 403, "this Host is not served without an API token (see SECURITY.md)"
            if scope["method"] not in SAFE_METHODS and self._cross_site(headers, host):
                return 403, "cross-origin writes are refused without an API token (see SECURITY.md)"
            return None
        if path.startswith(TOKEN_PREFIXES) or path == "/test":
            scheme, _, given = headers.get("authorization", "").partition(" ")
            expected = s.api_token.get_secret_value().encode()
            if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), expected):
                return 401, "a valid bearer token is required"
        return None

    def _cross_site(self, headers: dict[str, str], host: str) -> bool:
        origin = headers.get("origin")
        if origin is not None:
            return origin not in self.settings.cors_origins and not _origin_matches_host(origin, host)
        return headers.get("sec-fetch-site", "").lower() == "cross-site"

    def _body_limit(self, path: str) -> int:
        return self.settings.max_import_bytes if path == IMPORT_PATH else self.settings.max_body_bytes


def _capped(receive: Receive, limit: int) -> Receive:
    """A body that turns out larger than `limit` (chunked, or a lying Content-Length) is a 413."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                # An HTTPException passes FastAPI's body parsing unchanged and becomes the answer.
                raise HTTPException(413, f"request body larger than {limit} bytes")
        return message

    return wrapped


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    # The body was not read: the connection cannot carry another request after this answer.
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
