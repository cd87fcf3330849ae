"""gRPC between control plane and agent over TLS, and mTLS with client certificates."""

from __future__ import annotations

from pathlib import Path

import pytest

from videorec_testing.media import assert_jpeg_decodes
from videorec_testing.processes import AGENT_TOKEN
from videorec_testing.stack import start_stack
from videorec_testing.tls import make_pki

pytestmark = [pytest.mark.e2e]


def test_mtls_between_control_plane_and_agent(tmp_path: Path) -> None:
    with start_stack(tmp_path, agents=["tls-agent"], mtls=True) as stack:
        with stack.cp.client() as c:
            response = c.get("/test/img")
            assert response.status_code == 200, response.text
            assert_jpeg_decodes(response.content)
        # A control plane that trusts the agents' CA but has no client certificate is refused; it
        # is told of an agent asking for one (same CA) through that agent's heartbeat.
        client_ca = {"VIDEOREC_AGENT_TLS_CLIENT_CA": str(stack.pki.ca)}
        with (
            start_stack(
                tmp_path / "no-cert", agents=["tls-agent-2"], pki=stack.pki, agent_env=client_ca
            ) as plain,
            plain.cp.client() as c,
        ):
            refused = c.get("/test/img")
        assert refused.status_code == 503
        assert "tls-agent-2" in refused.json()["detail"]


def test_tls_agent_refuses_plaintext_and_wrong_ca_and_still_wants_its_token(tmp_path: Path) -> None:
    import grpc

    from shared.rpc import agent_pb2, agent_pb2_grpc

    other = make_pki(tmp_path / "other-pki")  # a CA that never signed the agent's certificate
    with start_stack(tmp_path, agents=["tls-only"], tls=True) as stack:
        agent, pki = stack.agent, stack.pki
        assert pki is not None
        with stack.cp.client() as c:
            assert c.get("/test/img").status_code == 200  # the control plane with the right CA gets in
        token = (("authorization", f"Bearer {AGENT_TOKEN}"),)

        def get_info(channel: grpc.Channel, metadata: tuple = token) -> agent_pb2.AgentInfo:
            stub = agent_pb2_grpc.AgentStub(channel)
            return stub.GetInfo(agent_pb2.GetInfoRequest(), timeout=5, metadata=metadata)

        with grpc.insecure_channel(agent.address()) as plaintext, pytest.raises(grpc.RpcError) as caught:
            get_info(plaintext)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        wrong_ca = grpc.ssl_channel_credentials(root_certificates=other.ca.read_bytes())
        with (
            grpc.secure_channel(agent.address(), wrong_ca) as channel,
            pytest.raises(grpc.RpcError) as caught,
        ):
            get_info(channel)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        right_ca = grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes())
        with grpc.secure_channel(agent.address(), right_ca) as channel:
            # TLS authenticates the agent to us, not us to the agent: the token is still required.
            for metadata in ((), (("authorization", "Bearer not-the-token"),)):
                with pytest.raises(grpc.RpcError) as caught:
                    get_info(channel, metadata)
                assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert get_info(channel).name == "tls-only"
