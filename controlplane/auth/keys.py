"""Users' API keys: `vru1.<key id>.<secret>`, printed once, stored as the key id and a hash.

The key id finds the user's row with one indexed lookup on every request; the secret is checked
against its SHA-256. Not a password hash (argon2, bcrypt) on purpose: those are slow so that a
stolen hash of a guessable password costs a guesser years, but a secret here is 256 random bits
that no one can guess from its hash, and a slow hash would cost tens of milliseconds of CPU on every
API call (a console polls several lists a second)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "vru1"
_SHAPE = re.compile(r"^vru1\.([A-Za-z0-9]{16})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    key: str  # shown once, never stored
    key_id: str
    key_hash: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> NewKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)  # 43 characters, 256 bits
    return NewKey(f"{PREFIX}.{key_id}.{secret}", key_id, digest(secret))


def parse(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of something shaped like a key, else None."""
    match = _SHAPE.match(presented)
    return (match.group(1), match.group(2)) if match else None


def matches(secret: str, key_hash: str) -> bool:
    return hmac.compare_digest(digest(secret), key_hash)
