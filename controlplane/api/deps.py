"""Dependencies shared by the routes: the context, a database session, the bearer token."""

# No `from __future__ import annotations` here: body_or_query builds its signature at run time.
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Body, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, SecretStr
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.context import AppContext
from controlplane.errors import UnauthorizedError
from controlplane.services.validation import checked
from controlplane.settings import Settings

M = TypeVar("M", bound=BaseModel)


def get_context(request: Request) -> AppContext:
    ctx = request.state.ctx
    assert isinstance(ctx, AppContext)
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


async def get_session(ctx: ContextDep) -> AsyncIterator[AsyncSession]:
    async with ctx.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def token_guard(
    pick: Callable[[Settings], SecretStr | None], what: str, scheme: HTTPBearer
) -> Callable[..., None]:
    """A dependency that refuses a request without the configured bearer token (none configured:
    open, which the service allows only on loopback)."""

    def guard(
        ctx: ContextDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)]
    ) -> None:
        expected = pick(ctx.settings)
        if expected is None:
            return
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(given.encode(), expected.get_secret_value().encode()):
            raise UnauthorizedError(f"a valid {what} is required")

    return guard


require_api_token = token_guard(
    lambda s: s.api_token,
    "bearer token",
    HTTPBearer(auto_error=False, description="VIDEOREC_API_TOKEN, when the service has one"),
)
require_agent_token = token_guard(
    lambda s: s.agent_token,
    "agent token",
    HTTPBearer(auto_error=False, description="VIDEOREC_AGENT_TOKEN, shared by the agents"),
)


def body_or_query(model: type[M]) -> Callable[..., Awaitable[M]]:
    """Read a POST/PUT input from the JSON body, or from query parameters when there is no body.

    The original API does not say where POST/PUT fields go; clients send both ways. The body stays
    the documented form (it is what OpenAPI shows)."""

    async def dependency(request: Request, body: Annotated[model | None, Body()] = None) -> M:  # type: ignore[valid-type]
        if body is not None:
            return body
        params: dict[str, Any] = {}
        for key, value in request.query_params.items():
            # A nested object (uri_http_picture) can only come as JSON in a query parameter.
            params[key] = _maybe_json(value)
        where = "query" if params else "body"
        return checked(lambda: model.model_validate(params), (where,))

    return dependency


def _maybe_json(value: str) -> Any:
    if value.startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
