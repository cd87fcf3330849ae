"""Users' API keys: `vru1.<key id>.<secret>`, printed once, stored as the key id and a hash.

The key id finds the user's row with one indexed lookup on every request; the secret is checked
against its Argon2id hash (argon2-cffi, the password-hashing library OWASP recommends). Argon2 is slow
on purpose, and a console polls several lists a second, so a key that verified once is remembered
(`KeyVerifier`): by its row's hash and the SHA-256 of its secret, in this process's memory only. The
row is still looked up on every request, so a removed user is refused at once on every replica.

Rows written before keys were hashed with Argon2 hold the SHA-256 of the secret (64 hex digits);
those keys keep working (a 256-bit random secret cannot be guessed from it either) until the user is
removed and added again."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PREFIX = "vru1"
_SHAPE = re.compile(r"^vru1\.([A-Za-z0-9]{16})\.([A-Za-z0-9_-]{43})$")
_LEGACY = re.compile(r"^[0-9a-f]{64}$")
# OWASP's minimum for Argon2id (19 MiB, 2 passes): enough for a secret of 256 random bits, and a
# verification costs ~20 ms of one thread rather than the default's 64 MiB each.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
REMEMBERED = 4096  # keys remembered as verified, per process (least recently used forgotten first)


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
    return NewKey(f"{PREFIX}.{key_id}.{secret}", key_id, HASHER.hash(secret))


def parse(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of something shaped like a key, else None."""
    match = _SHAPE.match(presented)
    return (match.group(1), match.group(2)) if match else None


def matches(secret: str, key_hash: str) -> bool:
    """Whether `secret` is the one `key_hash` was made from (slow: Argon2)."""
    if _LEGACY.match(key_hash):
        return hmac.compare_digest(digest(secret), key_hash)
    try:
        return HASHER.verify(key_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


class KeyVerifier:
    """`matches`, remembering the keys that matched so that a key's Argon2 runs once per process, and
    off the event loop. Only successes are remembered: a wrong secret costs a hash every time, but
    it needs a real key id to get that far (an unknown one is refused by the row's lookup)."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._verified: OrderedDict[tuple[str, str], str] = OrderedDict()  # (key id, hash) → digest

    async def matches(self, key_id: str, secret: str, key_hash: str) -> bool:
        slot = (key_id, key_hash)
        known = self._verified.get(slot)
        if known is not None and hmac.compare_digest(known, digest(secret)):
            self._verified.move_to_end(slot)
            return True
        if not await asyncio.to_thread(matches, secret, key_hash):
            return False
        self._verified[slot] = digest(secret)
        self._verified.move_to_end(slot)
        while len(self._verified) > self.size:
            self._verified.popitem(last=False)
        return True
