"""What authentication and the audit trail cost per request, on one control plane (SQLite, no agent).

    .venv/bin/python bench/auth_cost.py [--requests N]

Sequential requests from one client on 127.0.0.1 (latency, not throughput): a cheap read
(`GET /api/v1/tag/begin`) with the bootstrap token (no database lookup) against the same read with a
user's key (one indexed lookup by key id + SHA-256 of the secret), and a refused write (403: the
permission check, then an audit entry committed before the answer) against that read.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench.common import markdown_table, percentile, ratio, workspace  # noqa: E402
from videorec_testing.accounts import cli_user_add  # noqa: E402
from videorec_testing.stack import start_stack  # noqa: E402

BOOTSTRAP = "bench-bootstrap-t0ken"


def timed(
    client: httpx.Client, method: str, path: str, key: str, n: int, expect: int, **kw: object
) -> list[float]:
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(20):  # warm-up: connections, caches
        client.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]
    took = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]
        took.append((time.perf_counter() - started) * 1000)
        assert response.status_code == expect, response.text
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    n = parser.parse_args().requests
    with workspace() as (tmp, _stops), start_stack(tmp, agents=0, api_token=BOOTSTRAP) as stack:
        viewer = cli_user_add(tmp / "cp-data", "viewer", "viewer")
        with httpx.Client(base_url=stack.cp.url, timeout=30) as client:
            token_read = timed(client, "GET", "/api/v1/tag/begin", BOOTSTRAP, n, 200)
            key_read = timed(client, "GET", "/api/v1/tag/begin", viewer, n, 200)
            refused = timed(client, "DELETE", "/api/v1/group/1", viewer, n, 403)
    rows = [
        ("GET /tag/begin, bootstrap token", token_read, token_read),
        ("GET /tag/begin, a user's key", key_read, token_read),
        ("DELETE refused (403) + audit entry, a user's key", refused, key_read),
    ]
    print(f"{n} sequential requests each")
    print(
        markdown_table(
            ["what", "p50 ms", "p99 ms", "p50 vs baseline"],
            [
                (
                    name,
                    f"{percentile(v, 50):.2f}",
                    f"{percentile(v, 99):.2f}",
                    ratio(percentile(v, 50), percentile(b, 50)),
                )
                for name, v, b in rows
            ],
        )
    )


if __name__ == "__main__":
    main()
