"""The agent's gRPC server: its handlers, the health service, the token check and TLS."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # stubs lag grpcio

from agent.rpc.auth import TokenInterceptor
from agent.rpc.servicer import AgentServicer
from agent.settings import AgentSettings
from shared.rpc import agent_pb2_grpc

SERVICE_NAME = "videorec.agent.v1.Agent"
# Chunks of file bytes go up to 1 MiB; leave room for the envelope.
MAX_MESSAGE = 8 * 1024 * 1024


def _credentials(settings: AgentSettings) -> grpc.ServerCredentials | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    pair = [(settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())]
    if settings.tls_client_ca is not None:
        return grpc.ssl_server_credentials(
            pair, root_certificates=settings.tls_client_ca.read_bytes(), require_client_auth=True
        )
    return grpc.ssl_server_credentials(pair)


def create_server(
    settings: AgentSettings, servicer: AgentServicer, health_servicer: health_aio.HealthServicer
) -> tuple[grpc.aio.Server, int]:
    """Build and bind the server; the port is the bound one, so tests can ask for port 0."""
    interceptors = [TokenInterceptor(settings.token.get_secret_value())] if settings.token else []
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
        ],
    )
    agent_pb2_grpc.add_AgentServicer_to_server(servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    creds = _credentials(settings)
    port = server.add_secure_port(address, creds) if creds else server.add_insecure_port(address)
    return server, port


async def mark_serving(health_servicer: health_aio.HealthServicer) -> None:
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
