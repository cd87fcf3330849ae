"""Turning a model check that needs stored state into FastAPI's 422 shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

T = TypeVar("T")


def checked(build: Callable[[], T], loc_prefix: tuple[str, ...] = ("body",)) -> T:
    """Run a pydantic construction; its errors become a 422 located in the request body."""
    try:
        return build()
    except ValidationError as exc:
        errors = [{**err, "loc": (*loc_prefix, *err["loc"])} for err in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
