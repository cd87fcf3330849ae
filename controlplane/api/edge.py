"""The HTTP edge, before any route runs: who is calling (authentication), and how much they may send.

FastAPI reads and parses a request body before it runs the route's dependencies, so a bearer-token
dependency alone lets anyone make the service buffer any body. Here the caller is recognised from
the headers first (the bootstrap token, a user's key, an SSO token: services/authentication.py) and
left in the request's state for the routes' permission checks (api/access.py); bodies are capped
while they are read. Without a token (local mode, loopback
only) the browser is the danger: a page on another site can post forms to 127.0.0.1, and a DNS name
rebound to 127.0.0.1 can read answers; so only loopback `Host` values and same-origin writes pass.
"""

from __future__ import annotations

import json

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane.auth.oidc import IssuerUnavailableError
from controlplane.auth.principal import LOCAL
from controlplane.services.authentication import Authenticator, TokenRefusedError
from controlplane.settings import Settings
from shared.net import is_loopback

# Routes behind the API token (the agents' heartbeat has its own credential, checked by its route).
TOKEN_PREFIXES = ("/api/", "/test/")
# Streams a record's bytes (verified by hash on an agent): capped by its own setting, not the JSON one.
IMPORT_PATH = "/api/v1/import"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PRINCIPAL = "principal"  # the request state's key of the caller (auth.principal.Principal)


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
        self.authenticator = Authenticator(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        refusal = self._local_refusal(scope, headers) if not self.settings.authenticates() else None
        if refusal is None:
            refusal = await self._authenticate(scope, headers)
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

    def _local_refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        """Local mode (no authentication configured): loopback Hosts and same-origin writes only."""
        host = headers.get("host", "")
        if not host_is_loopback(host) and host_name(host) not in self.settings.allowed_hosts:
            return 403, "this Host is not served without an API token (see docs/security.md)"
        if scope["method"] not in SAFE_METHODS and self._cross_site(headers, host):
            return 403, "cross-origin writes are refused without an API token (see docs/security.md)"
        return None

    async def _authenticate(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        """Leave the caller in the request's state (`principal`), or refuse the request."""
        state = scope.setdefault("state", {})
        path: str = scope["path"]
        if not (path.startswith(TOKEN_PREFIXES) or path == "/test"):
            return None  # the console's files, probes, metrics, the agents' own endpoint
        if not self.settings.authenticates():
            state[PRINCIPAL] = LOCAL  # everyone is admin on loopback, as before roles existed
            return None
        ctx = state.get("ctx")
        if ctx is None:
            return 503, "the service is starting"
        try:
            state[PRINCIPAL] = await self.authenticator.principal(
                ctx.sessions, headers.get("authorization", "")
            )
        except TokenRefusedError:
            return 401, "a valid bearer token is required"
        except IssuerUnavailableError:
            return 503, "the single sign-on issuer's keys could not be fetched: try again shortly"
        except (OperationalError, SqlTimeoutError):  # a key's lookup: the database busy or away
            return 503, "the database is busy or unreachable: try again shortly"
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
