"""Single sign-on: a bearer JWT of the site's OIDC issuer, checked against the issuer's keys (PyJWT).

The issuer's discovery document names its JWKS; both are fetched with a time-out and kept for
`keys_cache_s`. A token signed by a key not in the cached set fetches the set again at once (the
issuer rotated its keys), but at most every REFETCH_MIN_S, so random key ids cannot make this
service hammer the issuer. The fetch is async (httpx): PyJWKClient would fetch with blocking urllib
on the event loop and stall every request meanwhile; PyJWT's own PyJWKSet parses the keys.

A token passes only when signed by one of those keys with an asymmetric algorithm, bound to the key
(`alg: none`, HMAC with a public key as secret, or an algorithm other than the key's are refused),
unexpired, from this issuer and for this audience."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from jwt import PyJWK, PyJWKSet

from controlplane.auth.principal import ActorKind, Principal
from controlplane.auth.roles import highest
from shared.net import is_loopback

log = logging.getLogger(__name__)

ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
REFETCH_MIN_S = 30.0
LEEWAY_S = 30  # clocks of the issuer and this host may differ this much
MAX_DOCUMENT_BYTES = 1024 * 1024
NAME_CLAIMS = ("preferred_username", "email", "sub")


class TokenRefusedError(Exception):
    """The token does not prove who it claims (401). The message never holds the token."""


class IssuerUnavailableError(Exception):
    """The issuer's keys could not be fetched and none are cached (503)."""


class OidcVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str,
        roles_claim: str,
        timeout_s: float = 5.0,
        keys_cache_s: float = 300.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.roles_claim = roles_claim
        self.timeout_s = timeout_s
        self.keys_cache_s = keys_cache_s
        self._keys: PyJWKSet | None = None
        self._fetched = 0.0  # time.monotonic() of the last fetch attempt
        self._lock = asyncio.Lock()

    async def principal(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefusedError("not a valid JWT") from None
        alg = header.get("alg")
        if alg not in ASYMMETRIC:
            raise TokenRefusedError("the token's algorithm is not accepted")
        key = await self._key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefusedError("the token has expired") from None
        except jwt.PyJWTError as exc:
            raise TokenRefusedError(f"the token did not verify ({type(exc).__name__})") from None
        return Principal(ActorKind.SSO, _name(claims), highest(_role_names(claims, self.roles_claim)))

    async def _key(self, kid: Any) -> PyJWK:
        keys = await self._current_keys()
        found = _pick(keys, kid)
        if found is None and time.monotonic() - self._fetched >= REFETCH_MIN_S:
            keys = await self._current_keys(force=True)
            found = _pick(keys, kid)
        if found is None:
            raise TokenRefusedError("the token is not signed by a key of the issuer")
        return found

    async def _current_keys(self, force: bool = False) -> PyJWKSet:
        async with self._lock:  # requests that find the cache stale wait for one fetch
            age = time.monotonic() - self._fetched
            if self._keys is not None and age < (REFETCH_MIN_S if force else self.keys_cache_s):
                return self._keys
            self._fetched = time.monotonic()
            try:
                self._keys = await self._fetch()
            except IssuerUnavailableError as exc:
                if self._keys is None:
                    raise
                log.warning("kept the cached keys of the OIDC issuer: %s", exc)
            return self._keys

    async def _fetch(self) -> PyJWKSet:
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as http:
            discovery = await _json(http, f"{self.issuer}/.well-known/openid-configuration", self.timeout_s)
            if discovery.get("issuer", "").rstrip("/") != self.issuer:
                raise IssuerUnavailableError("the discovery document names another issuer")
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not _acceptable_url(jwks_uri):
                raise IssuerUnavailableError("the discovery document names no https jwks_uri")
            document = await _json(http, jwks_uri, self.timeout_s)
        keys = [k for k in document.get("keys", []) if isinstance(k, dict) and k.get("use", "sig") == "sig"]
        try:
            jwk_set = PyJWKSet(keys)
        except jwt.PyJWTError as exc:
            raise IssuerUnavailableError(f"the issuer's key set is unusable: {exc}") from None
        jwk_set.keys = [k for k in jwk_set.keys if k.algorithm_name in ASYMMETRIC]
        return jwk_set


def _acceptable_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname is not None and is_loopback(parts.hostname)


async def _json(http: httpx.AsyncClient, url: str, timeout_s: float) -> dict[str, Any]:
    """The JSON object at `url`, read within `timeout_s` in all and at most MAX_DOCUMENT_BYTES: httpx's
    time-out bounds each read, so an issuer that drips a byte at a time, or streams without end, would
    otherwise hold every request that waits for its keys, and this process's memory."""
    try:
        async with (
            asyncio.timeout(timeout_s),
            http.stream("GET", url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise IssuerUnavailableError(f"{url} answered {response.status_code}")
            content = bytearray()
            async for chunk in response.aiter_bytes():
                content += chunk
                if len(content) > MAX_DOCUMENT_BYTES:
                    raise IssuerUnavailableError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    except TimeoutError:
        raise IssuerUnavailableError(f"{url} did not answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise IssuerUnavailableError(f"{url} did not answer ({type(exc).__name__})") from None
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise IssuerUnavailableError(f"{url} did not answer JSON") from None
    if not isinstance(body, dict):
        raise IssuerUnavailableError(f"{url} did not answer a JSON object")
    return body


def _pick(keys: PyJWKSet, kid: Any) -> PyJWK | None:
    if kid is None:
        return keys.keys[0] if len(keys.keys) == 1 else None  # no key id: only an issuer of one key
    return next((k for k in keys.keys if k.key_id == kid), None)


def _role_names(claims: dict[str, Any], path: str) -> list[str]:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return value.split()  # a space-separated string, as `scope` is
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _name(claims: dict[str, Any]) -> str:
    for claim in NAME_CLAIMS:
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value[:128]
    return "unnamed"
