"""The control plane and agents as real processes on free ports, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Self

import httpx

from videorec_testing.net import free_port
from videorec_testing.wait import wait_until

AGENT_TOKEN = "agent-secret-for-tests"


@dataclass
class Proc:
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        code = self.proc.returncode
        self.log_file.close()
        return code

    def kill(self) -> None:
        """SIGKILL the process only (not its group: children such as ffmpeg may outlive it)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.log_file.close()


@dataclass
class ControlPlane(Proc):
    url: str = ""
    api_token: str | None = None

    def client(self, timeout: float = 30.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_token}"} if self.api_token else {}
        return httpx.Client(base_url=self.url, timeout=timeout, headers=headers)


def start_controlplane(
    tmp_path: Path,
    database_url: str | None = None,
    port: int | None = None,
    shared_agent_token: bool = True,
    **env: str,
) -> ControlPlane:
    """`port` again brings a stopped control plane back where its agents look for it.
    `shared_agent_token=False`: on SQLite the control plane keeps an agents key in its data folder and
    agents join with the tokens `enrol-agent` prints, as a user's site does."""
    port = port or free_port()
    data = tmp_path / "cp-data"
    full_env = {
        **os.environ,
        "VIDEOREC_HTTP_PORT": str(port),
        "VIDEOREC_DATA_DIR": str(data),
        "VIDEOREC_AGENT_TOKEN": AGENT_TOKEN,
        # Heartbeats, liveness and failover run on the defaults a user gets: a default that is flaky
        # on a loaded 2-core box is a defect of the default, not of the test.
        # The test cameras listen on 127.0.0.1, which camera URLs may not name by default.
        "VIDEOREC_CAMERA_ALLOW_LOCAL": "true",
        **env,
    }
    if not shared_agent_token:
        del full_env["VIDEOREC_AGENT_TOKEN"]
    if database_url:
        full_env["VIDEOREC_DATABASE_URL"] = database_url
        # Replicas on PostgreSQL migrate only when told to; starting them together also proves that
        # concurrent upgrades wait for each other.
        full_env.setdefault("VIDEOREC_MIGRATE_ON_START", "true")
    cp = ControlPlane(
        [sys.executable, "-m", "controlplane"],
        full_env,
        tmp_path / f"controlplane-{port}.log",
        url=f"http://127.0.0.1:{port}",
        api_token=env.get("VIDEOREC_API_TOKEN"),
    )
    cp.start()
    try:
        wait_until(
            lambda: httpx.get(cp.url + "/openapi.json", timeout=2).status_code == 200,
            60,
            what="control plane",
        )
    except BaseException:
        cp.stop()  # never leave a half-started process behind a failed test
        raise
    return cp


@dataclass
class AgentProc(Proc):
    name: str = ""
    storage: Path = field(default_factory=Path)

    def address(self) -> str:
        """Where the latest start of this agent listens."""
        found = re.findall(r"listening on (\S+)", self.log())
        assert found, self.log()
        return found[-1]


def start_agent(
    tmp_path: Path,
    cp: ControlPlane | None,
    name: str = "agent-1",
    token: str = AGENT_TOKEN,
    prefix: Sequence[str] = (),
    **env: str,
) -> AgentProc:
    """`prefix`: a command the agent runs under, e.g. `ip netns exec NS` (it must exec the agent, so
    that signals reach it)."""
    storage = tmp_path / f"storage-{name}"
    full_env = {
        **os.environ,
        "VIDEOREC_AGENT_NAME": name,
        "VIDEOREC_AGENT_GRPC_PORT": "0",
        "VIDEOREC_AGENT_STORAGE_ROOT": str(storage),
        "VIDEOREC_AGENT_CONTROLPLANE_URL": cp.url if cp else "http://127.0.0.1:9",
        "VIDEOREC_AGENT_TOKEN": token,
        **env,
    }
    agent = AgentProc(
        [*prefix, sys.executable, "-m", "agent"],
        full_env,
        tmp_path / f"agent-{name}.log",
        name=name,
        storage=storage,
    )
    # The log is appended to across restarts: wait for this start's own line.
    earlier = agent.log().count("listening on") if agent.log_path.exists() else 0
    agent.start()
    try:
        wait_until(lambda: agent.log().count("listening on") > earlier, 60, what=f"agent {name} to listen")
    except BaseException:
        agent.stop()
        raise
    return agent


def wait_agent_online(
    cp: ControlPlane,
    name: str,
    timeout: float = 45.0,
    address: str | None = None,
    since: datetime | None = None,
) -> dict:
    """`address`: wait for that instance (after a restart the old one may still count as online).
    `since`: wait for a heartbeat after then (a control plane started on an older one's database
    shows the agent online from the old beats until it goes stale)."""

    def online() -> dict | None:
        with cp.client() as c:
            for agent in c.get("/api/v1/agent").json():
                wanted = address is None or agent["address"] == address
                if since is not None:
                    seen = agent["last_seen_utc"]
                    wanted = wanted and seen is not None and datetime.fromisoformat(seen) > since
                if agent["name"] == name and agent["state"] == "online" and wanted:
                    return agent
        return None

    return wait_until(online, timeout, what=f"agent {name} online")


@contextlib.contextmanager
def frozen(proc: Proc) -> Iterator[None]:
    """SIGSTOP a process (a host that dropped off the network) and always SIGCONT it afterwards."""
    assert proc.proc is not None and proc.proc.poll() is None
    os.kill(proc.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        if proc.proc.poll() is None:
            os.kill(proc.proc.pid, signal.SIGCONT)
