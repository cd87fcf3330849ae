"""One way to start a stack for an end-to-end test: a control plane and N agents as real processes.

    with start_stack(tmp_path, agents=2, tls=True) as stack:
        with stack.cp.client() as c: ...

Everything is entered on an ExitStack as soon as it is started, so a failed second start stops the
first, and the stack comes down in reverse order however the test ends. `database_url` is SQLite in
`tmp_path` unless given (pass the `pg_url` fixture's URL for PostgreSQL); `tls` makes a throw-away
CA, serves the agents' gRPC over TLS and has the control plane trust only that CA.

Several replicas and named agents with their own settings (sites, say):

    with start_stack(tmp_path, database_url=url, replicas=2,
                     agent_names=["a1", "a2"], agent_envs=[{"VIDEOREC_AGENT_SITE": "A"}] * 2) as stack:
        stack.replicas[1] ...; stack.by_name("a2"); stack.add_agent("a1", ...)  # a restart

Agent i heartbeats to replica i mod `replicas`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
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
    replicas: list[ControlPlane] = field(default_factory=list)  # cp first
    # Starts an agent (name, replica, extra env) that the stack stops at the end; set by start_stack.
    starter: Callable[..., AgentProc] | None = field(default=None, repr=False)

    @property
    def agent(self) -> AgentProc:
        return self.agents[0]

    def by_name(self, name: str) -> AgentProc:
        """The latest start of agent `name`."""
        return next(a for a in reversed(self.agents) if a.name == name)

    def add_agent(
        self, name: str, replica: int = 0, wait: bool = True, prefix: Sequence[str] = (), **env: str
    ) -> AgentProc:
        """Start (or restart) an agent that the stack stops at the end; online when it returns unless
        `wait` is False. `prefix`: see start_agent."""
        assert self.starter is not None
        agent = self.starter(name, self.replicas[replica] if self.replicas else self.cp, prefix, **env)
        if wait:
            wait_agent_online(self.cp, name, address=agent.address())
        return agent


@contextlib.contextmanager
def start_stack(
    tmp_path: Path,
    *,
    agents: int = 1,
    database_url: str | None = None,
    tls: bool = False,
    cp_env: dict[str, str] | None = None,
    agent_env: dict[str, str] | None = None,
    replicas: int = 1,
    agent_names: Sequence[str] | None = None,
    agent_envs: Sequence[dict[str, str]] | None = None,
    api_token: str | None = None,
) -> Iterator[Stack]:
    """Agents are named agent-1 … agent-N (or `agent_names`, whose length then sets N) and are online
    when the block starts; `agent_envs[i]` adds to `agent_env` for agent i. `api_token`: the API
    wants it, and the stack's clients send it."""
    cp_env, agent_env = dict(cp_env or {}), dict(agent_env or {})
    pki = make_pki(tmp_path / "pki") if tls else None
    if pki is not None:
        cp_env.setdefault("VIDEOREC_AGENT_TLS_CA", str(pki.ca))
        agent_env.setdefault("VIDEOREC_AGENT_TLS_CERT", str(pki.server_cert))
        agent_env.setdefault("VIDEOREC_AGENT_TLS_KEY", str(pki.server_key))
    if api_token is not None:
        cp_env["VIDEOREC_API_TOKEN"] = api_token
    names = list(agent_names) if agent_names is not None else [f"agent-{n}" for n in range(1, agents + 1)]
    envs = list(agent_envs) if agent_envs is not None else [{} for _ in names]
    assert len(envs) == len(names), "one agent_envs entry per agent"
    with contextlib.ExitStack() as stops:
        cp = start_controlplane(tmp_path, database_url, port=None, **cp_env)
        cp.api_token = api_token
        stops.callback(cp.stop)
        stack = Stack(cp, pki=pki, replicas=[cp])
        for i in range(1, replicas):
            replica = start_controlplane(tmp_path / f"replica-{i}", database_url, port=None, **cp_env)
            replica.api_token = api_token
            stops.callback(replica.stop)
            stack.replicas.append(replica)

        def starter(name: str, to: ControlPlane, prefix: Sequence[str] = (), **env: str) -> AgentProc:
            agent = start_agent(tmp_path, to, name=name, prefix=prefix, **{**agent_env, **env})
            stops.callback(agent.stop)
            stack.agents.append(agent)
            return agent

        stack.starter = starter
        for i, (name, env) in enumerate(zip(names, envs, strict=True)):
            starter(name, stack.replicas[i % len(stack.replicas)], **env)
        for agent in stack.agents:
            wait_agent_online(cp, agent.name)
        yield stack
