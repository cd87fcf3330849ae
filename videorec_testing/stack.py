"""One way to start a stack for an end-to-end test: control planes and agents as real processes.

    with start_stack(tmp_path, agents=2, tls=True) as stack:
        with stack.cp.client() as c: ...

Everything is entered on an ExitStack as soon as it is started, so a failed second start stops the
first, and the stack comes down in reverse order however the test ends. `database_url` is SQLite in
`tmp_path` unless given (pass the `pg_url` fixture's URL, or `postgres_database()`'s, for
PostgreSQL); `tls` makes a throw-away CA, serves the agents' gRPC over TLS and has the control plane
trust only that CA (`mtls` also makes the agents ask for the control plane's client certificate).

The shapes the tests need beyond "start, use, stop":
- `replicas=N` control planes on one database (PostgreSQL), started at once; agent i heartbeats to
  replica i mod N.
- `agents` as a number (agent-1 … agent-N) or as names; `stack.add_agent(...)` later, with its own
  env, token, control plane, or without waiting for it to come online.
- `stack.restart_agent(agent, kill=True)`: SIGKILL (its ffmpeg children live on) or stop, then the
  same agent again on the same storage, online at its new address.
- `stack.stop_cp()` / `stack.start_cp()` (`restart_cp()`): the control plane away and back on the
  same port and database, where its agents look for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from videorec_testing.processes import (
    AGENT_TOKEN,
    AgentProc,
    ControlPlane,
    start_agent,
    start_controlplane,
    wait_agent_online,
)
from videorec_testing.tls import Pki, make_pki


@dataclass
class Stack:
    cp: ControlPlane  # the first replica
    agents: list[AgentProc] = field(default_factory=list)
    pki: Pki | None = None
    replicas: list[ControlPlane] = field(default_factory=list)  # every control plane, `cp` first
    tmp_path: Path = field(default_factory=Path)
    database_url: str | None = None
    cp_env: dict[str, str] = field(default_factory=dict)
    agent_env: dict[str, str] = field(default_factory=dict)
    _stops: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)
    _agent_args: dict[str, tuple[int, str, dict[str, str], tuple[str, ...]]] = field(
        default_factory=dict, repr=False
    )

    @property
    def agent(self) -> AgentProc:
        return self.agents[0]

    def agent_named(self, name: str) -> AgentProc:
        return next(a for a in self.agents if a.name == name)

    def by_name(self, name: str) -> AgentProc:
        """The latest start of agent `name` (add_agent with a known name starts it again)."""
        return next(a for a in reversed(self.agents) if a.name == name)

    # --- agents -------------------------------------------------------------------------------------

    def add_agent(
        self,
        name: str | None = None,
        *,
        replica: int | None = None,
        token: str = AGENT_TOKEN,
        online: bool = True,
        prefix: Sequence[str] = (),
        **env: str,
    ) -> AgentProc:
        """One more agent (env on top of the stack's `agent_env`), stopped with the stack.

        `replica`: the control plane it heartbeats to (by default the next in turn); `online=False`
        returns once it listens (an agent with a wrong token, or with no control plane, never is);
        `prefix` runs it under a wrapper (`ip netns exec NS`, see start_agent). A name already started
        starts that agent again (a host coming back): `by_name` gives the latest."""
        name = name or f"agent-{len(self.agents) + 1}"
        slot = len(self.agents) % len(self.replicas) if replica is None else replica
        self._agent_args[name] = (slot, token, {**self.agent_env, **env}, tuple(prefix))
        agent = self._start_agent(name)
        self.agents.append(agent)
        if online:
            wait_agent_online(self.replicas[slot], name, address=agent.address())
        return agent

    def restart_agent(self, agent: AgentProc, *, kill: bool = False, online: bool = True) -> AgentProc:
        """Stop the agent (SIGKILL with `kill`: its ffmpeg children are left running) unless it is
        already down, start it again with the same name, storage and env, and wait until the control
        plane sees this new instance."""
        if agent.proc is not None and agent.proc.poll() is None:
            agent.kill() if kill else agent.stop()
        again = self._start_agent(agent.name)
        self.agents[self.agents.index(agent)] = again
        if online:
            wait_agent_online(
                self.replicas[self._agent_args[agent.name][0]], agent.name, address=again.address()
            )
        return again

    def _start_agent(self, name: str) -> AgentProc:
        slot, token, env, prefix = self._agent_args[name]
        agent = start_agent(self.tmp_path, self.replicas[slot], name=name, token=token, prefix=prefix, **env)
        self._stops.callback(agent.stop)  # stopping an agent that is already down does nothing
        return agent

    # --- control planes -----------------------------------------------------------------------------

    def stop_cp(self, *, kill: bool = False, replica: int = 0) -> None:
        """Take a control plane away (SIGKILL with `kill`: no chance to release anything)."""
        cp = self.replicas[replica]
        cp.kill() if kill else cp.stop()

    def start_cp(self, *, replica: int = 0) -> ControlPlane:
        """Bring a stopped control plane back on its port and database, with the same env."""
        old = self.replicas[replica]
        assert old.proc is None or old.proc.poll() is not None, "stop it first"
        port = int(old.url.rsplit(":", 1)[1])
        cp = self._start_cp(replica, port)
        self.replicas[replica] = cp
        if replica == 0:
            self.cp = cp
        return cp

    def restart_cp(self, *, kill: bool = False, replica: int = 0) -> ControlPlane:
        self.stop_cp(kill=kill, replica=replica)
        return self.start_cp(replica=replica)

    def _start_cp(self, replica: int, port: int | None = None) -> ControlPlane:
        tmp = self.tmp_path if len(self.replicas) <= 1 and replica == 0 else self.tmp_path / f"cp{replica}"
        cp = start_controlplane(tmp, self.database_url, port=port, **self.cp_env)
        cp.api_token = self.cp_env.get("VIDEOREC_API_TOKEN")
        # Stopped after every agent started before it, whichever replica it restarts.
        self._stops.callback(cp.stop)
        return cp


@contextlib.contextmanager
def start_stack(
    tmp_path: Path,
    *,
    agents: int | Sequence[str] = 1,
    database_url: str | None = None,
    tls: bool = False,
    cp_env: dict[str, str] | None = None,
    agent_env: dict[str, str] | None = None,
    replicas: int = 1,
    mtls: bool = False,
    pki: Pki | None = None,
    agent_names: Sequence[str] | None = None,
    agent_envs: Sequence[dict[str, str]] | None = None,
    api_token: str | None = None,
) -> Iterator[Stack]:
    """Agents are named agent-1 … agent-N (or as given, in `agents` or `agent_names`) and are online
    when the block starts; `agent_envs[i]` adds to `agent_env` for agent i (a site, say).
    `api_token`: the API wants it, and the stack's clients send it.

    `pki`: use this CA and certificates (another stack's) instead of making new ones; implies `tls`."""
    if replicas > 1 and database_url is None:
        raise ValueError("replicas share a database: pass a PostgreSQL URL")
    cp_env, agent_env = dict(cp_env or {}), dict(agent_env or {})
    if pki is None and (tls or mtls):
        pki = make_pki(tmp_path / "pki")
    if pki is not None:
        cp_env.setdefault("VIDEOREC_AGENT_TLS_CA", str(pki.ca))
        agent_env.setdefault("VIDEOREC_AGENT_TLS_CERT", str(pki.server_cert))
        agent_env.setdefault("VIDEOREC_AGENT_TLS_KEY", str(pki.server_key))
    if mtls:
        assert pki is not None
        cp_env.setdefault("VIDEOREC_AGENT_TLS_CERT", str(pki.client_cert))
        cp_env.setdefault("VIDEOREC_AGENT_TLS_KEY", str(pki.client_key))
        agent_env.setdefault("VIDEOREC_AGENT_TLS_CLIENT_CA", str(pki.ca))
    if api_token is not None:
        cp_env["VIDEOREC_API_TOKEN"] = api_token
    names = [f"agent-{n}" for n in range(1, agents + 1)] if isinstance(agents, int) else list(agents)
    if agent_names is not None:
        names = list(agent_names)
    envs = list(agent_envs) if agent_envs is not None else [{} for _ in names]
    assert len(envs) == len(names), "one agent_envs entry per agent"
    with contextlib.ExitStack() as stops:
        stack = Stack(
            cp=None,  # type: ignore[arg-type] - set as soon as the first replica is up
            pki=pki,
            tmp_path=tmp_path,
            database_url=database_url,
            cp_env=cp_env,
            agent_env=agent_env,
            _stops=stops,
        )
        stack.replicas = [None] * replicas  # type: ignore[list-item] - filled below
        if replicas == 1:
            stack.replicas[0] = stack._start_cp(0)
        else:
            # Started together: their schema upgrades race, and the advisory lock must order them.
            # Each one that came up is on the ExitStack before a failure of another is raised.
            with ThreadPoolExecutor(replicas) as pool:
                futures = [pool.submit(stack._start_cp, i) for i in range(replicas)]
            for i, future in enumerate(futures):
                stack.replicas[i] = future.result()
        stack.cp = stack.replicas[0]
        for name, env in zip(names, envs, strict=True):
            stack.add_agent(name, online=False, **env)
        for agent in stack.agents:
            wait_agent_online(stack.cp, agent.name)
        yield stack
