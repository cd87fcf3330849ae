"""URLs the control plane signs so that an agent serves one record's file straight to a client.

The key is derived from the agent's token (HMAC of it with a label and the agent's name): both sides
hold that token already, so no new secret is distributed, and a key opens one agent's files only.
The signature covers the record, the file's location and the expiry, each length-delimited (JSON),
so no field can be shifted into another."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MEDIA_PATH = "/media/{record_id}"
MEDIA_PREFIX = "/media/"


def check_public_url(url: str) -> str:
    """An agent's public base URL (`VIDEOREC_AGENT_PUBLIC_URL`: what clients reach its HTTP port by,
    maybe behind a proxy with a path prefix), without its trailing slash; ValueError for anything
    but http(s)://host[:port][/prefix]. Clients are redirected there: no credentials, no query."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ValueError("must not carry credentials, a query or a fragment")
    try:
        _ = parts.port  # a port out of range raises here
    except ValueError:
        raise ValueError("has a bad port") from None
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def record_of_media_url(url: str) -> str | None:
    """The record a signed media URL names (the last path segment after /media/), or None when the
    URL is not an http(s) media URL carrying a signature: what a pulling agent checks before it dials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
        return None
    head, sep, record = parts.path.rpartition(MEDIA_PREFIX)
    if not sep or not record or "/" in record or "signature=" not in parts.query:
        return None
    return unquote(record)


def media_key(agent_token: str, agent_name: str) -> bytes:
    return hmac.new(agent_token.encode(), f"videorec-media:{agent_name}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class MediaGrant:
    """What a signed URL allows: reading `location` of `record_id` until `expires_unix`."""

    record_id: str
    location: str
    expires_unix: int

    def signature(self, key: bytes) -> str:
        message = json.dumps([self.record_id, self.location, self.expires_unix]).encode()
        mac = hmac.new(key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def query(self, key: bytes) -> dict[str, str]:
        return {
            "location": self.location,
            "expires": str(self.expires_unix),
            "signature": self.signature(key),
        }

    def signed_by(self, key: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.signature(key).encode(), signature.encode())
