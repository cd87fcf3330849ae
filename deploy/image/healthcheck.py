#!/opt/videorec/bin/python
"""`videorec-healthcheck [controlplane|agent]`: exit 0 when the process in this container is healthy.

The image's HEALTHCHECK runs it for the control plane (GET /healthz on VIDEOREC_HTTP_PORT); `agent`
asks GET /healthz on the agent's HTTP port (VIDEOREC_AGENT_HTTP_PORT, which a deployment sets to a
fixed port), or, with no fixed port, the standard gRPC health service.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys

TIMEOUT_S = 3.0


def _healthz(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    finally:
        conn.close()


def controlplane() -> bool:
    return _healthz(int(os.environ.get("VIDEOREC_HTTP_PORT", "8080")))


def agent() -> bool:
    http_port = int(os.environ.get("VIDEOREC_AGENT_HTTP_PORT", "0"))
    if http_port:
        return _healthz(http_port)
    port = int(os.environ.get("VIDEOREC_AGENT_GRPC_PORT", "50051"))
    if os.environ.get("VIDEOREC_AGENT_TLS_CERT"):
        # With (m)TLS this check holds no client certificate: a listening port is all it can see.
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S).close()
        return True
    # Imported here: the control plane's check must not pay for loading grpc.
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT_S)
    return answer.status == health_pb2.HealthCheckResponse.SERVING


def main() -> int:
    which = sys.argv[1] if len(sys.argv) > 1 else "controlplane"
    checks = {"controlplane": controlplane, "agent": agent}
    if which not in checks:
        print("usage: videorec-healthcheck [controlplane|agent]", file=sys.stderr)
        return 2
    try:
        return 0 if checks[which]() else 1
    except Exception as exc:  # any failure to ask is "unhealthy", said in one line
        print(f"{which} unhealthy: {exc!r}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
