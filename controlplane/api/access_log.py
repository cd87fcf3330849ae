"""The access log without secrets: a query string may carry a camera URL with its password (the
query form of `POST /api/v1/source`) or a token, so only known harmless values are written."""

from __future__ import annotations

import logging
from urllib.parse import unquote

from shared.heartbeat import HEARTBEAT_PATH
from shared.redact import MASK

# Query parameters whose values say what was asked and can never carry a credential.
VISIBLE_PARAMS = frozenset(
    {
        "tag_name",
        "name",
        "group_name",
        "model",
        "delay",
        "frames",
        "record_id",
        "hash_md5",
        "size",
        "begin_utc",
        "end_utc",
    }
)


def scrub_target(target: str) -> str:
    """`/a?uri_rtsp=rtsp%3A%2F%2Fu%3Apw%40h&tag_name=x` → `/a?uri_rtsp=***&tag_name=x`."""
    path, question, query = target.partition("?")
    if not question:
        return target
    items = []
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        visible = unquote(key).lower() in VISIBLE_PARAMS
        items.append(f"{key}{eq}{value if visible or not value else MASK}")
    return f"{path}?{'&'.join(items)}"


# Requests machines make every few seconds whatever happens: an agent's heartbeat, a load balancer's
# or Kubernetes' probe, Prometheus' scrape. Logged, they bury what a person did (one line per agent
# every 2 s); their failures are still logged, and metrics count them all.
ROUTINE_PATHS = frozenset({HEARTBEAT_PATH, "/healthz", "/readyz", "/metrics"})


class ScrubAccessLog(logging.Filter):
    """For uvicorn's access logger, whose arguments are (client, method, target, version, status)."""

    def __init__(self, log_routine: bool = False) -> None:
        super().__init__()
        self.log_routine = log_routine

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 5 and isinstance(args[2], str):
            if not self.log_routine and _routine(args[2], args[4]):
                return False
            record.args = (*args[:2], scrub_target(args[2]), *args[3:])
        return True


class ScrubWebSocketLog(logging.Filter):
    """For uvicorn's WebSocket lines ('%s - "WebSocket %s" ...', on uvicorn.error): the live wall's URL
    carries its ticket (`/api/v1/live/ws?ticket=...`), a credential until it is spent."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        websocket_line = '"WebSocket %s"' in str(record.msg)
        if websocket_line and isinstance(args, tuple) and len(args) >= 2 and isinstance(args[1], str):
            record.args = (args[0], scrub_target(args[1]), *args[2:])
        return True


def _routine(target: str, status: object) -> bool:
    return target.partition("?")[0] in ROUTINE_PATHS and isinstance(status, int) and status < 400


def install(log_routine: bool = False) -> None:
    logging.getLogger("uvicorn.access").addFilter(ScrubAccessLog(log_routine))
    logging.getLogger("uvicorn.error").addFilter(ScrubWebSocketLog())
