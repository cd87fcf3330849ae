"""Column helpers shared by the tables."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, PlainSerializer
from sqlmodel import Field

from controlplane.db import UtcDateTime, utcnow

MASK = "********"


def iso_utc(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# A datetime that is always written to JSON as ISO 8601 UTC with a "Z".
UtcDatetimeOut = Annotated[AwareDatetime, PlainSerializer(iso_utc, return_type=str, when_used="json")]


def created_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


def utc_field(**kwargs: Any) -> Any:
    return Field(default=None, sa_type=UtcDateTime, **kwargs)
