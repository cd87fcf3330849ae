"""Camera secrets inside URLs: masked in every answer, and kept on a PUT only for the same endpoint.

A client that PUTs back what it read sends `********` where a secret was. Keeping the stored secret
is right when the URL still points where the secret belongs; if the host, port, scheme or user
changed, keeping it would hand the old camera's password to whoever answers at the new address.
"""

from __future__ import annotations

import functools
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from controlplane.models.common import MASK
from shared.redact import SECRET_QUERY_KEYS

_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


class MaskedSecretError(ValueError):
    """The mask was sent where no stored secret may be reused: the client must send the secret."""

    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def _is_secret_key(key: str) -> bool:
    return unquote(key).lower() in SECRET_QUERY_KEYS


def _query_pairs(query: str) -> list[tuple[str, str | None]]:
    """The raw `key=value` items of a query string, in order (None: an item without `=`)."""
    pairs: list[tuple[str, str | None]] = []
    for item in query.split("&") if query else []:
        key, eq, value = item.partition("=")
        pairs.append((key, value if eq else None))
    return pairs


def _join_query(pairs: list[tuple[str, str | None]]) -> str:
    return "&".join(key if value is None else f"{key}={value}" for key, value in pairs)


def _with_password(parts: SplitResult, password: str) -> SplitResult:
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username or ''}:{password}@{host}")


def mask_uri(uri: str | None) -> str | None:
    """`rtsp://u:pw@h/x?pwd=1` → `rtsp://u:********@h/x?pwd=********`: no answer carries a secret."""
    if not uri or ("@" not in uri and "?" not in uri):
        return uri  # nothing that could hold a secret: the common case of a list, at no cost
    return _mask(uri)


@functools.lru_cache(maxsize=4096)
def _mask(uri: str) -> str:
    # Cached: listing a thousand sources masks the same URLs on every request (urlsplit is the cost).
    parts = urlsplit(uri)
    if parts.password is not None:
        parts = _with_password(parts, MASK)
    pairs = [(k, MASK if v and _is_secret_key(k) else v) for k, v in _query_pairs(parts.query)]
    return urlunsplit(parts._replace(query=_join_query(pairs)))


def endpoint(uri: str) -> tuple[str, str, int | None, str | None]:
    """Where a secret sent with this URL goes: scheme, host, port, user."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port, parts.username


def _has_mask(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.password == MASK or any(
        v == MASK and _is_secret_key(k) for k, v in _query_pairs(parts.query)
    )


def unmask_uri(new: str, old: str | None, loc: tuple[str, ...]) -> str:
    """`new` with each masked secret replaced by the stored one, if `new` still points to `old`'s
    endpoint; otherwise MaskedSecretError (the client must send the secret itself)."""
    if not _has_mask(new):
        return new
    if not old or endpoint(new) != endpoint(old):
        raise MaskedSecretError(
            loc, "the URL's scheme, host, port or user changed: send its password, not the mask"
        )
    parts, stored = urlsplit(new), urlsplit(old)
    if parts.password == MASK:
        if stored.password is None:
            raise MaskedSecretError(loc, "there is no stored password to keep: send the password")
        parts = _with_password(parts, stored.password)
    stored_values = {unquote(k).lower(): v for k, v in _query_pairs(stored.query) if _is_secret_key(k)}
    pairs: list[tuple[str, str | None]] = []
    for key, value in _query_pairs(parts.query):
        if value == MASK and _is_secret_key(key):
            value = stored_values.get(unquote(key).lower())
            if value is None:
                raise MaskedSecretError(loc, f"there is no stored {unquote(key)} to keep: send it")
        pairs.append((key, value))
    return urlunsplit(parts._replace(query=_join_query(pairs)))


def keep_picture_password(
    password: str | None, uri: str, user: str | None, old_uri: str | None, old_user: str | None,
    old_password: str | None,
) -> str | None:  # fmt: skip
    """The picture password to store: a sent mask keeps the stored one only for the same endpoint."""
    if password != MASK:
        return password
    loc = ("uri_http_picture", "password")
    if old_password is None or old_uri is None:
        raise MaskedSecretError(loc, "there is no stored password to keep: send the password")
    if endpoint(uri)[:3] != endpoint(old_uri)[:3] or user != old_user:
        raise MaskedSecretError(
            loc, "the picture URL's scheme, host, port or user changed: send its password, not the mask"
        )
    return old_password
