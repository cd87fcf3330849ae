"""Dependencies shared by the routes: the context, a database session, inputs. (Who may call a route:
api/access.py.)"""

# No `from __future__ import annotations` here: body_or_query builds its signature at run time.
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Body, Depends, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.context import AppContext
from controlplane.services.validation import checked

M = TypeVar("M", bound=BaseModel)

# Id columns are INTEGER (32-bit signed on PostgreSQL): a larger id is a 422 here, not a 500 there.
MAX_ID = 2**31 - 1
ObjectId = Annotated[int, Path(ge=0, le=MAX_ID)]
RecordId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]
# Optional paging of the lists (the SPEC's plain array shape is kept; absent: the whole list).
MAX_LIMIT = 10_000
Limit = Annotated[
    int | None, Query(ge=1, le=MAX_LIMIT, description="At most this many items (all when absent)")
]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Skip this many items first")]
IfNoneMatch = Annotated[
    str | None, Header(description="ETag of the copy the client holds: 304 without a body when it is current")
]
# Text that PostgreSQL can store: no NUL (a lone surrogate cannot come through a query string).
TagName = Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]


# The dependencies that do no I/O are `async def`: FastAPI runs a plain `def` in the thread pool, and
# two thread hops per request were a third of a cached list's time.
async def get_context(request: Request) -> AppContext:
    ctx = request.state.ctx
    assert isinstance(ctx, AppContext)
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


async def get_session(ctx: ContextDep) -> AsyncIterator[AsyncSession]:
    async with ctx.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def body_or_query(model: type[M]) -> Callable[..., Awaitable[M]]:
    """Read a POST/PUT input from the JSON body, or from query parameters when there is no body.

    The original API does not say where POST/PUT fields go; clients send both ways. The body stays
    the documented form (it is what OpenAPI shows)."""

    async def dependency(request: Request, body: Annotated[model | None, Body()] = None) -> M:  # type: ignore[valid-type]
        if body is not None:
            _check_text(body.model_dump(), ("body",))
            return body
        params: dict[str, Any] = {}
        for key, value in request.query_params.items():
            # A nested object (uri_http_picture) can only come as JSON in a query parameter.
            params[key] = _maybe_json(value)
        where = "query" if params else "body"
        parsed = checked(lambda: model.model_validate(params), (where,))
        _check_text(parsed.model_dump(), (where,))
        return parsed

    return dependency


def body_list(model: type[M], max_items: int) -> Callable[..., Awaitable[list[M]]]:
    """A JSON body that is a list of `model`, 1 to `max_items` long (422 beyond, in FastAPI's shape,
    each item's errors located by its index), with the text checks of a single body."""

    async def dependency(body: Annotated[list[model], Body(min_length=1, max_length=max_items)]) -> list[M]:  # type: ignore[valid-type]
        for index, item in enumerate(body):
            _check_text(BaseModel.model_dump(item), ("body", index))
        return body

    return dependency


def _check_text(value: Any, loc: tuple[str | int, ...]) -> None:
    """JSON may carry a lone surrogate (`"\\ud800"`) or a NUL that no database column can store."""
    if isinstance(value, str):
        if "\x00" in value or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
            msg = "must be valid Unicode text without NUL characters"
            raise RequestValidationError([{"loc": loc, "msg": msg, "type": "value_error", "input": None}])
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, (*loc, index))


def _maybe_json(value: str) -> Any:
    if value.startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
