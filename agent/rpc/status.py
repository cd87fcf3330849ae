"""The one table from the agent's errors (agent.errors) to gRPC status codes, as
`controlplane.errors` is for HTTP. A handler raises, `@grpc_status` answers: no handler writes its
own try/except → abort. An error that is not in the table is a bug and reaches the caller as UNKNOWN
(logged by grpc), as before.

The detail is the error's own words (`str()`, a CameraError's `detail`), which agent.errors keeps
free of credentials."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

import grpc

from agent.errors import (
    CameraError,
    CapacityError,
    CopyBusyError,
    CopyMismatchError,
    CopyResumeError,
    FileAccessError,
    FileGoneError,
    MissingAtSourceError,
    PullRefusedError,
    RecordBusyError,
    SourceError,
    UnknownRecordError,
)

Code = grpc.StatusCode

# The most specific class of an error wins (its MRO is walked): MissingAtSourceError before
# UnknownRecordError.
_TABLE: dict[type[Exception], tuple[Code, Callable[[Any], str]]] = {
    UnknownRecordError: (Code.NOT_FOUND, lambda e: f"record {e.args[0]} is not on this agent"),
    MissingAtSourceError: (Code.NOT_FOUND, lambda e: f"the source has no file of record {e.args[0]}"),
    FileGoneError: (Code.NOT_FOUND, str),
    FileAccessError: (Code.INVALID_ARGUMENT, str),
    CapacityError: (Code.RESOURCE_EXHAUSTED, str),
    CameraError: (Code.FAILED_PRECONDITION, lambda e: e.detail),
    RecordBusyError: (Code.FAILED_PRECONDITION, str),
    CopyResumeError: (Code.FAILED_PRECONDITION, str),
    CopyMismatchError: (Code.DATA_LOSS, str),
    PullRefusedError: (Code.PERMISSION_DENIED, str),
    CopyBusyError: (Code.ABORTED, str),
    SourceError: (Code.ABORTED, str),
}
_MAPPED = tuple(_TABLE)


def status_of(exc: BaseException) -> tuple[Code, str] | None:
    """The status code and detail for `exc`, or None when the table has no entry for it."""
    for cls in type(exc).__mro__:
        entry = _TABLE.get(cls)  # type: ignore[call-overload]
        if entry is not None:
            code, detail = entry
            return code, detail(exc)
    return None


F = TypeVar("F", bound=Callable[..., Any])


def grpc_status(handler: F) -> F:
    """Wrap a servicer method (unary or streaming answer): an error of the table aborts the call with
    its status. The method's arguments are (self, request, context)."""
    if inspect.isasyncgenfunction(handler):

        @functools.wraps(handler)
        async def streaming(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                async for message in handler(self, request, context):
                    yield message
            except _MAPPED as exc:
                await context.abort(*_status(exc))

        return cast(F, streaming)

    @functools.wraps(handler)
    async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await handler(self, request, context)
        except _MAPPED as exc:
            await context.abort(*_status(exc))

    return cast(F, unary)


def _status(exc: Exception) -> tuple[Code, str]:
    status = status_of(exc)
    assert status is not None  # every class in _MAPPED is in the table
    return status
