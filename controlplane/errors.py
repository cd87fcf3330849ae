"""The control plane's own exceptions, and the one place that maps them to HTTP answers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError

from shared.redact import MASK, SECRET_QUERY_KEYS, redact_url

log = logging.getLogger(__name__)


class ServiceError(Exception):
    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(ServiceError):
    status_code = 404

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} not found")


class ConflictError(ServiceError):
    status_code = 409


class BadLocationError(ServiceError):
    """A file location that is not the record's own: refused, nothing touched."""

    status_code = 422


class UnauthorizedError(ServiceError):
    status_code = 401


class ForbiddenError(ServiceError):
    status_code = 403


class SiteRefusedError(ForbiddenError):
    """An agent's heartbeat named a site other than the one it is bound to (counted in a metric)."""


class CameraUnavailableError(ServiceError):
    """The agent answered, but the camera did not (wrong password, unreachable, no frame)."""

    status_code = 502


class AgentUnavailableError(ServiceError):
    """No agent could be reached to do the work."""

    status_code = 503


class CopyVerificationError(ServiceError):
    """A copy whose bytes did not hash to the record's MD5: never recorded as synced."""

    status_code = 502


class BucketError(ServiceError):
    """An S3 bucket could not be reached or refused a request: worth retrying later."""

    status_code = 502


class AgentTimeoutError(ServiceError):
    status_code = 504


def invalid(loc: tuple[str | int, ...], msg: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape for a rule that needs the database to check."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": "value_error", "input": None}])


# How much of a refused value a 422 shows back: enough to recognise it, never a 10 MB echo.
MAX_ECHO_CHARS = 200
MAX_ECHO_ITEMS = 20
_SECRET_KEYS = SECRET_QUERY_KEYS | {"picture_password", "api_token", "agent_token"}


def safe_echo(value: Any, depth: int = 0) -> Any:
    """A refused input as a 422 may show it: secrets masked (URL userinfo and credential query
    values, fields named like a password), strings truncated, containers bounded."""
    if isinstance(value, str):
        # Lone surrogates (valid JSON escapes, invalid UTF-8) become "?" so the answer can be encoded.
        text = redact_url(value[: MAX_ECHO_CHARS * 4]).encode("utf-8", "replace").decode()
        return text if len(text) <= MAX_ECHO_CHARS else text[:MAX_ECHO_CHARS] + "…"
    if isinstance(value, bytes | bytearray):
        return safe_echo(bytes(value[: MAX_ECHO_CHARS * 4]).decode("utf-8", "replace"), depth)
    if depth >= 4:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())[:MAX_ECHO_ITEMS]
        return {
            str(k)[:MAX_ECHO_CHARS]: MASK if str(k).lower() in _SECRET_KEYS and v else safe_echo(v, depth + 1)
            for k, v in items
        }
    if isinstance(value, list | tuple):
        return [safe_echo(v, depth + 1) for v in list(value)[:MAX_ECHO_ITEMS]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return safe_echo(str(value), depth)


def _safe_error(error: dict[str, Any]) -> dict[str, Any]:
    safe = {k: v for k, v in error.items() if k not in ("input", "ctx")}
    safe["msg"] = safe_echo(str(error.get("msg", "")))
    if "ctx" in error:
        safe["ctx"] = safe_echo(error["ctx"])
    if "input" in error:
        named_secret = any(str(part).lower() in _SECRET_KEYS for part in error.get("loc", ()))
        safe["input"] = MASK if named_secret and error["input"] else safe_echo(error["input"])
    return safe


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes every input whole: stored secrets and 10 MB strings included.
        errors = [_safe_error(dict(err)) for err in list(exc.errors())[:MAX_ECHO_ITEMS]]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(BadLocationError)
    async def _bad_location(_request: Request, exc: BadLocationError) -> JSONResponse:
        body = [{"loc": ["query", "location"], "msg": exc.message, "type": "value_error"}]
        return JSONResponse({"detail": body}, status_code=422)

    @app.exception_handler(SqlTimeoutError)
    @app.exception_handler(OperationalError)
    async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
        # No connection in time (the pool is dry), the database away or locked: a moment's overload,
        # not a fault of the request. Callers (agents first) come back after Retry-After.
        log.warning("database busy or away, answered 503: %s", type(exc).__name__)
        retry_after = str(getattr(request.app.state, "retry_after_s", 2))
        return JSONResponse(
            {"detail": "the database is busy or unreachable: try again shortly"},
            status_code=503,
            headers={"Retry-After": retry_after},
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests raced past the same uniqueness check: the database had the last word.
        log.info("integrity error mapped to 409: %s", exc.orig)
        return JSONResponse({"detail": "conflicts with an existing object"}, status_code=409)
