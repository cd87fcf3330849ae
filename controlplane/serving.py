"""Serving the API in the foreground, shared by `python -m controlplane` and `make run`."""

from __future__ import annotations

import logging
import signal
from collections.abc import Generator
from contextlib import contextmanager

import uvicorn

from controlplane.api import access_log
from controlplane.app import create_app
from controlplane.settings import Settings
from shared import logs as shared_logs

log = logging.getLogger("controlplane")


class ForegroundServer(uvicorn.Server):
    """uvicorn, but a SIGTERM/SIGINT after a graceful shutdown is a clean exit (status 0).

    uvicorn re-raises the signal once it has shut down, so the process dies "killed by SIGTERM"
    and `make run` reports an error for what was a normal stop."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def configure_logging(settings: Settings) -> None:
    shared_logs.configure(settings.log_level)


def check_exposure(settings: Settings) -> bool:
    """The API is never served beyond loopback without authentication (a token or single sign-on)."""
    if settings.listens_on_loopback() or settings.authenticates():
        return True
    log.error(
        "refusing to listen on %s without VIDEOREC_API_TOKEN or VIDEOREC_OIDC_ISSUER: the API would be open to "
        "the network",
        settings.http_host,
    )
    return False


def serve(settings: Settings) -> None:
    config = uvicorn.Config(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
    )
    # After uvicorn.Config: it (re)configures its loggers when it is created.
    access_log.install(settings.access_log_routine)
    ForegroundServer(config).run()
