"""gRPC between control plane and agent over TLS, and mTLS with client certificates."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.media import assert_jpeg_decodes
from tests.support.processes import start_agent, start_controlplane, wait_agent_online
from tests.support.tls import make_pki

pytestmark = [pytest.mark.e2e]


def test_mtls_between_control_plane_and_agent(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    cp = start_controlplane(
        tmp_path,
        VIDEOREC_AGENT_TLS_CA=str(pki.ca),
        VIDEOREC_AGENT_TLS_CERT=str(pki.client_cert),
        VIDEOREC_AGENT_TLS_KEY=str(pki.client_key),
    )
    agent = start_agent(
        tmp_path,
        cp,
        name="tls-agent",
        VIDEOREC_AGENT_TLS_CERT=str(pki.server_cert),
        VIDEOREC_AGENT_TLS_KEY=str(pki.server_key),
        VIDEOREC_AGENT_TLS_CLIENT_CA=str(pki.ca),
    )
    # A control plane that trusts the agent's CA but has no client certificate is refused.
    plain = start_controlplane(tmp_path / "no-cert", VIDEOREC_AGENT_TLS_CA=str(pki.ca))
    try:
        wait_agent_online(cp, "tls-agent")
        with cp.client() as c:
            response = c.get("/test/img")
            assert response.status_code == 200, response.text
            assert_jpeg_decodes(response.content)
        # Point the second control plane at the same agent through a heartbeat of its own.
        agent2 = start_agent(
            tmp_path / "no-cert",
            plain,
            name="tls-agent-2",
            VIDEOREC_AGENT_TLS_CERT=str(pki.server_cert),
            VIDEOREC_AGENT_TLS_KEY=str(pki.server_key),
            VIDEOREC_AGENT_TLS_CLIENT_CA=str(pki.ca),
        )
        try:
            wait_agent_online(plain, "tls-agent-2")
            with plain.client() as c:
                refused = c.get("/test/img")
            assert refused.status_code == 503
            assert "tls-agent-2" in refused.json()["detail"]
        finally:
            agent2.stop()
    finally:
        agent.stop()
        plain.stop()
        cp.stop()
