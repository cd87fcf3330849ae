"""An agent's site is the admin's word: the enrolment binds it (a vra2 token), or for an older token
the site it first reported, and a heartbeat naming another site is refused, logged and counted. So
one stolen agent token never draws another site's cameras, and their passwords, to itself."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controlplane.agent_identity import AgentIdentity, identity_of, token_for
from controlplane.app import create_app
from shared.heartbeat import HEARTBEAT_PATH
from tests.conftest import make_settings
from videorec_testing.processes import start_agent, start_controlplane, wait_agent_online
from videorec_testing.wait import wait_until

KEY = "test-agents-key-0123456789"
PASSWORD = "s3cret-of-site-a"


@pytest.fixture
def keyed(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, database_url, agents_key=KEY, camera_allow_local=True)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield client


def beat(client: TestClient, name: str, token: str, site: str):
    body = {"name": name, "address": "127.0.0.1:50051", "site": site}
    return client.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {token}"})


def refusals(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'videorec_agent_site_refusals_total{{agent="{name}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_an_agent_enrolled_for_one_site_never_gets_another_sites_passwords(
    keyed: TestClient, caplog: pytest.LogCaptureFixture
):
    good, evil = token_for(KEY, "good", "A"), token_for(KEY, "evil", "B")
    assert beat(keyed, "good", good, "A").status_code == 200
    assert beat(keyed, "evil", evil, "B").status_code == 200
    with caplog.at_level(logging.WARNING):
        refused = beat(keyed, "evil", evil, "A")
    assert refused.status_code == 403 and "bound to site B" in refused.json()["detail"]
    assert "evil named site A but is bound to site B" in caplog.text
    assert refusals(keyed, "evil") == 1
    camera = {"uri_rtsp": f"rtsp://admin:{PASSWORD}@10.1.2.3/stream", "site": "A"}
    assert keyed.post("/api/v1/source", json=camera).status_code == 201
    for _ in range(3):
        answer = beat(keyed, "evil", evil, "A")
        assert answer.status_code == 403 and PASSWORD not in answer.text
    assert PASSWORD not in beat(keyed, "evil", evil, "B").text
    # The agent of site A records it, once the placement loop has placed it there.
    wait_until(lambda: PASSWORD in beat(keyed, "good", good, "A").text, 20, interval=0.2)
    assert PASSWORD not in beat(keyed, "evil", evil, "B").text
    agents = {a["name"]: a for a in keyed.get("/api/v1/agent").json()}
    assert (agents["evil"]["site"], agents["evil"]["site_bound"]) == ("B", True)


def test_an_older_token_stays_on_the_site_its_agent_first_reported(keyed: TestClient):
    """vra1 tokens (enrolled without --site) keep working, pinned to their first report."""
    evil = token_for(KEY, "evil")
    assert beat(keyed, "evil", evil, "B").status_code == 200
    assert beat(keyed, "evil", evil, "A").status_code == 403
    assert refusals(keyed, "evil") == 1
    agents = {a["name"]: a for a in keyed.get("/api/v1/agent").json()}
    assert (agents["evil"]["site"], agents["evil"]["site_bound"]) == ("B", False)


def test_enrolling_with_a_site_retires_the_older_token_and_moves_the_agent(keyed: TestClient):
    assert beat(keyed, "north-1", token_for(KEY, "north-1"), "default").status_code == 200
    # The admin's word moves it; from then on its unbound token cannot come back.
    assert beat(keyed, "north-1", token_for(KEY, "north-1", "north"), "north").status_code == 200
    assert beat(keyed, "north-1", token_for(KEY, "north-1"), "north").status_code == 401
    assert keyed.get("/api/v1/agent").json()[0]["site"] == "north"


@pytest.mark.parametrize(("name", "site"), [("a", "b"), ("agent.local", "site.a"), ("x.y.z", "q")])
def test_a_site_token_proves_its_name_and_site_and_nothing_else(name: str, site: str):
    token = token_for(KEY, name, site)
    assert identity_of(KEY, token) == AgentIdentity(name, site)
    assert identity_of(KEY, token_for(KEY, name)) == AgentIdentity(name, None)
    assert identity_of("another-key", token) is None
    prefix, _, rest = token.partition(".")
    mac = rest.rpartition(".")[2]
    for forged in (f"{prefix}.{name}.other.{mac}", f"vra1.{name}.{mac}", f"{prefix}.{name}.{site}x.{mac}"):
        assert identity_of(KEY, forged) is None


def test_enrol_agent_binds_the_site_it_is_given(tmp_path: Path):
    env = {"VIDEOREC_AGENTS_KEY": KEY, "PATH": "/usr/bin:/bin", "VIDEOREC_DATA_DIR": str(tmp_path)}

    def enrol(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "controlplane", "enrol-agent", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True)

    done = enrol("site-a-1", "--site", "site-a")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == token_for(KEY, "site-a-1", "site-a")
    assert enrol("site-a-1", "--site", "../x").returncode == 2
    assert enrol("site-a-1", "--site").returncode == 2


@pytest.mark.e2e
def test_the_control_plane_dials_an_agent_with_its_site_token(tmp_path: Path):
    """The agent checks the control plane's token on every call: it must be the site-bound one."""
    cp = start_controlplane(tmp_path, VIDEOREC_AGENTS_KEY=KEY)
    try:
        token = token_for(KEY, "north-1", "north")
        agent = start_agent(tmp_path, cp, "north-1", token=token, VIDEOREC_AGENT_SITE="north")
        try:
            assert wait_agent_online(cp, "north-1")["site_bound"] is True
            with cp.client() as client:
                answer = client.get("/test/img")
            assert answer.status_code == 200, answer.text
            assert token not in cp.log() + agent.log()
        finally:
            agent.stop()
    finally:
        cp.stop()
