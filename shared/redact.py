"""Credential redaction for anything that leaves the process as text.

This module owns the rule "no camera password is ever logged or returned in an
error". Camera URLs carry credentials in their userinfo
(``rtsp://admin:secret@10.0.0.5/stream``), and ffmpeg happily echoes the full
URL in its stderr, so every log line, exception message and API error detail
that may contain a URL goes through :func:`redact_text` first.

Two complementary mechanisms are used:

* structural: any ``scheme://user:password@host`` found in the text has its
  password replaced by ``***`` (the user name is kept: it helps debugging and
  is not a secret), and well-known secret query parameters
  (``?password=...``, ``&token=...``) are masked too;
* literal: callers that know the secrets (the source's password, an API
  token) pass them in, and every occurrence is scrubbed, including their
  percent-encoded forms, which is how they appear inside URLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

MASK = "***"

# Secrets shorter than this are not scrubbed literally: replacing every "ab" or
# "1" in a log line would destroy it while protecting nothing meaningful.
MIN_SECRET_LENGTH = 3

# A URL scheme followed by its authority. The authority ends where ffmpeg's own
# URL splitter ends it (first "/", "?" or "#"), and additionally at whitespace,
# quotes and angle brackets, because in free text that is where the URL ends.
# Note that "@" and ":" are *not* terminators: an unencoded "@" inside the
# password is common, and ffmpeg takes the last "@" as the userinfo separator.
_URL_AUTHORITY_RE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<authority>[^\s/?#'\"<>]*)")

# Query parameters that conventionally carry credentials (snapshot URLs of
# many IP cameras look like ``/snapshot.cgi?user=admin&pwd=secret``).
SECRET_QUERY_KEYS = frozenset(
    {
        "password", "passwd", "pass", "pwd", "passphrase", "token", "access_token", "auth_token",
        "api_key", "apikey", "api-key", "secret", "auth", "credentials", "sig", "signature",
    }
)  # fmt: skip
_SECRET_QUERY_RE = re.compile(
    r"(?P<key>[?&;](?:"
    + "|".join(re.escape(k) for k in sorted(SECRET_QUERY_KEYS, key=len, reverse=True))
    + r")=)"
    r"(?P<value>[^&#\s'\"<>]*)",
    re.IGNORECASE,
)


def _mask_authority(match: re.Match[str]) -> str:
    """Replace the password of one ``scheme://authority`` match, keep the rest."""
    scheme, authority = match.group("scheme"), match.group("authority")
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        return match.group(0)
    user, colon, _password = userinfo.partition(":")
    if not colon:
        # "rtsp://admin@host": a bare user name, nothing secret to hide.
        return match.group(0)
    return f"{scheme}{user}:{MASK}@{hostport}"


def _mask_query(match: re.Match[str]) -> str:
    return f"{match.group('key')}{MASK}" if match.group("value") else match.group(0)


def redact_url(url: str) -> str:
    """Return *url* with the password of its userinfo (and secret query values) masked.

    ``rtsp://admin:secret@10.0.0.5/x`` becomes ``rtsp://admin:***@10.0.0.5/x``;
    URLs without credentials are returned unchanged.
    """
    return _SECRET_QUERY_RE.sub(_mask_query, _URL_AUTHORITY_RE.sub(_mask_authority, url))


def _secret_variants(secret: str) -> set[str]:
    """The spellings under which *secret* may show up in a log line.

    A password containing reserved characters is percent-encoded inside a URL
    (``p@ss`` -> ``p%40ss``), and a configured value may itself already be
    encoded, so both directions are covered.
    """
    variants = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), unquote(secret)}
    return {v for v in variants if len(v) >= MIN_SECRET_LENGTH}


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Scrub credentials from free text (ffmpeg stderr, exception messages).

    Every URL with credentials has its password masked, and every occurrence of
    each given secret (ignored when shorter than ``MIN_SECRET_LENGTH``) is
    replaced by ``***``, in plain and percent-encoded form.
    """
    variants: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            variants |= _secret_variants(secret)
    # Longest first, so that a secret is never half-replaced because a shorter
    # secret (or a shorter spelling of it) happens to be a substring of it.
    for variant in sorted(variants, key=len, reverse=True):
        text = text.replace(variant, MASK)
    return redact_url(text)


def _drop_password(match: re.Match[str]) -> str:
    scheme, authority = match.group("scheme"), match.group("authority")
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        return match.group(0)
    return f"{scheme}{userinfo.partition(':')[0]}@{hostport}"


def without_password(url: str) -> str:
    """*url* with no password at all (the user name kept, secret query values masked): what may
    travel back from an agent to name a camera, and what two such URLs are compared by.

    ``rtsp://admin:secret@10.0.0.5/x`` becomes ``rtsp://admin@10.0.0.5/x``.
    """
    return _SECRET_QUERY_RE.sub(_mask_query, _URL_AUTHORITY_RE.sub(_drop_password, url))
