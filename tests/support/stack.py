"""One way to start a stack for an end-to-end test: a control plane and N agents as real processes.

    with start_stack(tmp_path, agents=2, tls=True) as stack:
        with stack.cp.client() as c: ...

Everything is entered on an ExitStack as soon as it is started, so a failed second start stops the
first, and the stack comes down in reverse order however the test ends. `database_url` is SQLite in
`tmp_path` unless given (pass the `pg_url` fixture's URL for PostgreSQL); `tls` makes a throw-away
CA, serves the agents' gRPC over TLS and has the control plane trust only that CA.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import (
    AgentProc,
    ControlPlane,
    start_agent,
    start_controlplane,
    wait_agent_online,
)
from tests.support.tls import Pki, make_pki


@dataclass
class Stack:
    cp: ControlPlane
    agents: list[AgentProc] = field(default_factory=list)
    pki: Pki | None = None

    @property
    def agent(self) -> AgentProc:
        return self.agents[0]


@contextlib.contextmanager
def start_stack(
    tmp_path: Path,
    *,
    agents: int = 1,
    database_url: str | None = None,
    tls: bool = False,
    cp_env: dict[str, str] | None = None,
    agent_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Agents are named agent-1 … agent-N and are online when the block starts."""
    cp_env, agent_env = dict(cp_env or {}), dict(agent_env or {})
    pki = make_pki(tmp_path / "pki") if tls else None
    if pki is not None:
        cp_env.setdefault("VIDEOREC_AGENT_TLS_CA", str(pki.ca))
        agent_env.setdefault("VIDEOREC_AGENT_TLS_CERT", str(pki.server_cert))
        agent_env.setdefault("VIDEOREC_AGENT_TLS_KEY", str(pki.server_key))
    with contextlib.ExitStack() as stops:
        cp = start_controlplane(tmp_path, database_url, port=None, **cp_env)
        stops.callback(cp.stop)
        stack = Stack(cp, pki=pki)
        for n in range(1, agents + 1):
            agent = start_agent(tmp_path, cp, name=f"agent-{n}", **agent_env)
            stops.callback(agent.stop)
            stack.agents.append(agent)
        for agent in stack.agents:
            wait_agent_online(cp, agent.name)
        yield stack
