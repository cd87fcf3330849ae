"""The control plane's own exceptions, and the one place that maps them to HTTP answers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

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


class CameraUnavailableError(ServiceError):
    """The agent answered, but the camera did not (wrong password, unreachable, no frame)."""

    status_code = 502


class AgentUnavailableError(ServiceError):
    """No agent could be reached to do the work."""

    status_code = 503


class CopyVerificationError(ServiceError):
    """A copy whose bytes did not hash to the record's MD5: never recorded as synced."""

    status_code = 502


class AgentTimeoutError(ServiceError):
    status_code = 504


def invalid(loc: tuple[str | int, ...], msg: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape for a rule that needs the database to check."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": "value_error", "input": None}])


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(BadLocationError)
    async def _bad_location(_request: Request, exc: BadLocationError) -> JSONResponse:
        body = [{"loc": ["query", "location"], "msg": exc.message, "type": "value_error"}]
        return JSONResponse({"detail": body}, status_code=422)

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests raced past the same uniqueness check: the database had the last word.
        log.info("integrity error mapped to 409: %s", exc.orig)
        return JSONResponse({"detail": "conflicts with an existing object"}, status_code=409)
