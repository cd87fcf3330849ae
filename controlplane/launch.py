"""`make run`: the control plane with its embedded SQLite database and one local agent, in the
foreground. Ctrl-C or SIGTERM stops both."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from controlplane.local_keys import with_local_keys
from controlplane.serving import check_exposure, configure_logging, serve
from controlplane.settings import Settings

log = logging.getLogger("controlplane.launch")
_PASSED_ON = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV"}


def local_agent_env(settings: Settings) -> dict[str, str]:
    """The local agent's environment, but its token. The agent reads its settings itself (its own
    VIDEOREC_AGENT_* variables, passed on, win over the defaults `make run` gives it here) and gets
    none of the control plane's secrets (API token, the agents' key), which it would otherwise hand on
    to every ffmpeg it starts."""
    host = "127.0.0.1" if settings.listens_on_loopback() else settings.http_host
    inherited = {k: v for k, v in os.environ.items() if k in _PASSED_ON or k.startswith("VIDEOREC_AGENT_")}
    return {
        "VIDEOREC_AGENT_NAME": "local",
        # Port 0: the agent reports the port it got in its heartbeat, so nothing here is hard-coded.
        "VIDEOREC_AGENT_GRPC_PORT": "0",
        "VIDEOREC_AGENT_STORAGE_ROOT": str(settings.data_dir.resolve() / "agent-local"),
        **inherited,
        "VIDEOREC_AGENT_CONTROLPLANE_URL": f"http://{host}:{settings.http_port}",
    }


def start_local_agent(env: dict[str, str], token: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "agent"], env={**env, "VIDEOREC_AGENT_TOKEN": token})


def how_to_add_an_agent(settings: Settings, url: str) -> str:
    """What `make run` prints: the steps that put a second agent on this deployment (no secret)."""
    if settings.agents_key is not None:
        data = f"VIDEOREC_DATA_DIR={settings.data_dir} " if settings.data_dir != Path("data") else ""
        how = f"$({data}.venv/bin/videorec-controlplane enrol-agent NAME --site default)"
    else:
        how = "<the VIDEOREC_AGENT_TOKEN this control plane was started with>"
    where = (
        "on this host (agents on other hosts need VIDEOREC_HTTP_HOST and VIDEOREC_API_TOKEN: see README)"
        if settings.listens_on_loopback()
        else "on its host"
    )
    return (
        f"add an agent {where}, named NAME:\n"
        f"  VIDEOREC_AGENT_NAME=NAME VIDEOREC_AGENT_TOKEN={how} \\\n"
        f"  VIDEOREC_AGENT_CONTROLPLANE_URL={url} VIDEOREC_AGENT_STORAGE_ROOT={settings.data_dir}/agent-NAME \\\n"
        "  .venv/bin/videorec-agent"
    )


def stop_agent(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    settings = Settings()
    configure_logging(settings)
    if not check_exposure(settings):
        return 2
    if "camera_allow_local" not in settings.model_fields_set and settings.api_token is None:
        # Local mode (loopback, no token), unless the environment or .env says otherwise: cameras on
        # this machine are what a first run points at.
        settings.camera_allow_local = True
    with_local_keys(settings)
    if settings.agents_key is None and settings.agent_token is None:
        # PostgreSQL with neither secret set: both processes are ours, so a key for this run only.
        log.warning("no VIDEOREC_AGENTS_KEY: agents other than the local one cannot join this run")
        settings.agents_key = SecretStr(secrets.token_urlsafe(32))
    url = f"http://{settings.http_host}:{settings.http_port}"
    print(f"videorec control plane: {url}  (API docs: {url}/docs)", flush=True)
    print(how_to_add_an_agent(settings, url), flush=True)
    agent_env = local_agent_env(settings)
    token = settings.agent_token_for(agent_env["VIDEOREC_AGENT_NAME"])
    assert token is not None
    agent = start_local_agent(agent_env, token)
    try:
        serve(settings)
    finally:
        stop_agent(agent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
