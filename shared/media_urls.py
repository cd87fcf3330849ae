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

MEDIA_PATH = "/media/{record_id}"


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
