"""Short-lived tickets that open the console's live WebSocket.

A browser cannot put an Authorization header on a WebSocket, and the API token must never ride in a
URL (proxies and browser histories keep URLs). So the console asks for a ticket with an ordinary
authenticated call (`POST /api/v1/live/ticket`), then opens the WebSocket with it: the ticket is
worth one connection within `TICKET_TTL_S`, and nothing else. It names (signed) who asked for it, so
that the tiles the wall opens are that caller's live views in the audit trail.

The signing key is derived from a secret the replicas share (the API token, else the agents key,
else the secrets key), so that any replica of the control plane accepts a ticket another made;
without any (local mode) it is a random key of this process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from controlplane.auth.principal import ActorKind, Principal
from controlplane.auth.roles import Role
from controlplane.models.common import UtcDatetimeOut
from controlplane.settings import Settings

TICKET_TTL_S = 30
_LOCAL_KEY = secrets.token_bytes(32)
_USED_MAX = 10_000


class LiveTicket(BaseModel):
    ticket: str = Field(description="opens one live WebSocket (`/api/v1/live/ws?ticket=...`)")
    expires_utc: UtcDatetimeOut = Field(description="unused after this, it is refused: ask again")


class _Used:
    """Tickets already spent in this process (until they expire anyway)."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, int] = OrderedDict()

    def spend(self, nonce: str, expires: int, now: float) -> bool:
        while self._seen and (next(iter(self._seen.values())) < now or len(self._seen) > _USED_MAX):
            self._seen.popitem(last=False)
        if nonce in self._seen:
            return False
        self._seen[nonce] = expires
        return True


_used = _Used()


def _key(settings: Settings) -> bytes:
    # A secret every replica has (the bootstrap token, else the agents key, else the secrets key:
    # single sign-on may run without the token), never the secret itself.
    for secret in (settings.api_token, settings.agents_key, settings.secrets_key):
        if secret is not None:
            return hmac.new(
                secret.get_secret_value().encode(), b"videorec live websocket tickets", hashlib.sha256
            ).digest()
    return _LOCAL_KEY


def _signature(key: bytes, expires: int, nonce: str, who: str) -> str:
    return hmac.new(key, f"{expires}.{nonce}.{who}".encode(), hashlib.sha256).hexdigest()


def _who(principal: Principal) -> str:
    role = principal.role.value if principal.role else None
    text = json.dumps([principal.kind.value, principal.name, role], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def _principal(who: str) -> Principal | None:
    try:
        kind, name, role = json.loads(base64.urlsafe_b64decode(who + "=" * (-len(who) % 4)))
        return Principal(ActorKind(kind), name, Role(role) if role else None)
    except (ValueError, TypeError):
        return None


def issue(settings: Settings, principal: Principal, now: float | None = None) -> LiveTicket:
    expires = int((time.time() if now is None else now) + TICKET_TTL_S)
    nonce = secrets.token_urlsafe(12)
    who = _who(principal)
    ticket = f"{expires}.{nonce}.{who}.{_signature(_key(settings), expires, nonce, who)}"
    return LiveTicket(ticket=ticket, expires_utc=datetime.fromtimestamp(expires, UTC))


def redeem(settings: Settings, ticket: str, now: float | None = None) -> Principal | None:
    """Who asked for `ticket`, when it is one of ours, unexpired and not used before (it is used up
    now); None otherwise."""
    now = time.time() if now is None else now
    parts = ticket.split(".")
    if len(ticket) > 600 or len(parts) != 4 or not (parts[0].isascii() and parts[0].isdigit()):
        return None
    expires, nonce, who, signature = int(parts[0]), parts[1], parts[2], parts[3]
    if not hmac.compare_digest(signature, _signature(_key(settings), expires, nonce, who)):
        return None
    if expires < now or not _used.spend(nonce, expires, now):
        return None
    return _principal(who)
