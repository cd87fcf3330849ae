"""Camera secrets sealed at rest: the source columns that may hold a password are encrypted with
`VIDEOREC_SECRETS_KEY` (Fernet: AES-128-CBC with HMAC-SHA256, from `cryptography`), so a copy of the
database (a backup, a PostgreSQL dump, a stolen SQLite file) carries no camera password.

A sealed value is `sealed1:<key id>:<Fernet token>`; the key id (a hash of the key, never the key)
says which key sealed it, so that a rotation knows what to seal again. Values written before a key
was set stay plain until `reseal` (run at every start) seals them. Old keys
(`VIDEOREC_SECRETS_OLD_KEYS`) still open what they sealed, and `reseal` moves it to the current key.

The key is process-wide (`configure`, from the app's settings at start): a column type is evaluated
by SQLAlchemy with no access to the request or the app, and every engine of one process belongs to
one control plane."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PREFIX = "sealed1:"


class SealedSecretError(RuntimeError):
    """A sealed value that no configured key opens: the control plane cannot reach that camera."""


def _fernet_key(secret: str) -> bytes:
    # Any long random string will do as a key: Fernet's own format is derived from it.
    return base64.urlsafe_b64encode(hashlib.sha256(b"videorec-secrets:" + secret.encode()).digest())


def key_id(secret: str) -> str:
    return hashlib.sha256(b"videorec-secrets-id:" + secret.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Box:
    current_id: str
    fernet: MultiFernet  # the current key first: it seals; every key opens

    def seal(self, plain: str) -> str:
        return f"{PREFIX}{self.current_id}:{self.fernet.encrypt(plain.encode()).decode()}"

    def open(self, sealed: str) -> str:
        _kid, _, token = sealed.removeprefix(PREFIX).partition(":")
        try:
            return self.fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SealedSecretError(
                "a camera secret was sealed with a key that is neither VIDEOREC_SECRETS_KEY nor one of "
                "VIDEOREC_SECRETS_OLD_KEYS"
            ) from None


_box: Box | None = None


def configure(current: str | None, old: Sequence[str] = ()) -> None:
    """Seal with `current` from now on (None: write plain, as before a key was set)."""
    global _box
    if current is None:
        _box = None
        return
    keys = [current, *old]
    _box = Box(key_id(current), MultiFernet([Fernet(_fernet_key(k)) for k in keys]))


def needs_sealing(stored: str | None) -> bool:
    """Whether `reseal` should seal this stored value again: plain, or sealed with an older key.
    Without a key, a sealed value is an error (SealedSecretError), found at start, not at first use."""
    if stored is None:
        return False
    if _box is None:
        opened(stored)
        return False
    return not stored.startswith(f"{PREFIX}{_box.current_id}:")


def opened(stored: str) -> str:
    """The plain value of what a column holds (`reseal` reads the columns raw)."""
    if not stored.startswith(PREFIX):
        return stored
    if _box is None:
        raise SealedSecretError("camera secrets are sealed in the database: set VIDEOREC_SECRETS_KEY")
    return _box.open(stored)


class SealedString(TypeDecorator[str]):
    """A text column stored sealed when a key is configured; read back plain."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or _box is None:
            return value
        return _box.seal(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else opened(value)
