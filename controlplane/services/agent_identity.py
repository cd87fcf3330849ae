"""Each agent's own credential: a token bound to its name, derived from the control plane's agent key.

`vra1.<name>.<mac>` with mac = HMAC-SHA256(key, name). Any replica checks it with the key alone (no
token table to keep in step); a stolen token lets its holder act only as that one agent, and
revoking the name (a row in the database) ends it for every replica at once. A revoked name stays
revoked: the admin enrols the host again under a new name, so an old token can never come back."""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "vra1"


def token_for(key: str, name: str) -> str:
    mac = hmac.new(key.encode(), f"agent:{name}".encode(), hashlib.sha256).digest()
    return f"{PREFIX}.{name}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def name_of(key: str, token: str) -> str | None:
    """The agent a token was issued to, or None when it was not issued with this key."""
    prefix, _, rest = token.partition(".")
    name, _, _mac = rest.rpartition(".")
    if prefix != PREFIX or not name:
        return None
    return name if hmac.compare_digest(token_for(key, name), token) else None
