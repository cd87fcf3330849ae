"""Logging for both processes: one format, and no credential in any line whoever logs it.

Our own code logs with redacted values already; this catches what libraries log on their own (httpx
logs every request's URL, with `user:pw@` or `?pwd=` when a camera has them)."""

from __future__ import annotations

import logging

from shared.redact import redact_text

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with URL credentials and secret query values masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    # One line per HTTP request to a camera is noise at INFO, and the line would carry its URL.
    logging.getLogger("httpx").setLevel(logging.WARNING)
