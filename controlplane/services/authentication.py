"""Who sent a request: the bootstrap admin's token, a user's key, or a token of the site's single
sign-on; used by the edge (api/edge.py) before any body is read. Never logs or echoes what was sent."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.auth import keys
from controlplane.auth.oidc import OidcVerifier, TokenRefusedError
from controlplane.auth.principal import BOOTSTRAP, ActorKind, Principal
from controlplane.data import users as users_data
from controlplane.settings import Settings

__all__ = ["Authenticator", "TokenRefusedError"]


class Authenticator:
    """One per app: it holds the issuer's cached keys and the users' keys verified so far."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = keys.KeyVerifier()
        self.oidc: OidcVerifier | None = None
        if settings.oidc_issuer is not None:
            assert settings.oidc_audience is not None  # Settings requires it with an issuer
            self.oidc = OidcVerifier(
                settings.oidc_issuer,
                settings.oidc_audience,
                settings.oidc_roles_claim,
                settings.oidc_timeout_s,
                settings.oidc_keys_cache_s,
            )

    async def principal(self, sessions: async_sessionmaker[AsyncSession], authorization: str) -> Principal:
        """The caller named by an `Authorization` header value; TokenRefusedError (401) otherwise, or
        IssuerUnavailableError (503) when an SSO token cannot be checked for want of the issuer's keys."""
        scheme, _, given = authorization.partition(" ")
        given = given.strip()
        if scheme.lower() != "bearer" or not given:
            raise TokenRefusedError("no bearer token")
        token = self.settings.api_token
        if token is not None and secrets.compare_digest(given.encode(), token.get_secret_value().encode()):
            return BOOTSTRAP
        parsed = keys.parse(given)
        if parsed is not None:
            key_id, secret = parsed
            async with sessions() as session:
                user = await users_data.by_key_id(session, key_id)
            if user is None or not await self.keys.matches(key_id, secret, user.key_hash):
                raise TokenRefusedError("unknown or removed key")
            return Principal(ActorKind.USER, user.name, user.role)
        if self.oidc is not None and given.count(".") == 2:
            return await self.oidc.principal(given)
        raise TokenRefusedError("not a valid token")
