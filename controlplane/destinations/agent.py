"""Copies to another of our agents (`agent://NAME/PATH`), verified there.

The destination agent pulls the file from the URL the control plane signed on the source agent's
HTTP port (PullFile): the bytes go agent to agent with sendfile at the source, and a pull cut short
resumes from what the destination already wrote. The control plane only signs, calls and records.
A source agent that reports no HTTP port (an older one) still has its bytes streamed through here
over gRPC (WriteFile), from byte 0."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.agents.client import AgentClient
from controlplane.destinations import Links, Outgoing
from controlplane.errors import AgentUnavailableError, CopyVerificationError
from controlplane.models import Agent
from shared.rpc import agent_pb2 as pb


@dataclass(frozen=True)
class AgentDestination:
    agent: str
    path: str  # relative directory under the agent's sync root
    links: Links

    async def _online(self) -> Agent:
        agent = await self.links.online_agent(self.agent)
        if agent is None:
            raise AgentUnavailableError(f"destination agent {self.agent} is offline")
        return agent

    async def copy(self, outgoing: Outgoing) -> str:
        size, md5 = outgoing.size, outgoing.md5
        dest = self.links.agents.client(await self._online())
        header = pb.WriteFileHeader(record_id=outgoing.record.id, path=self.path, size=size, hash_md5=md5)
        if outgoing.source_url is not None:
            result = await self._pull(dest, header, outgoing)
        else:
            result = await dest.write_file(header, outgoing.chunks, outgoing.deadline_s)
        if result.hash_md5 != md5 or result.size != size:
            raise CopyVerificationError(f"agent {self.agent} kept {result.hash_md5}, expected {md5}")
        return result.location

    async def _pull(
        self, dest: AgentClient, header: pb.WriteFileHeader, outgoing: Outgoing
    ) -> pb.WriteFileResult:
        assert outgoing.source_url is not None
        counted = 0

        def progress(step: pb.PullFileProgress) -> None:
            # Bytes done, as the job counts them: what the destination holds, resumed prefix included
            # (so a resumed copy still adds up to its size), never counted twice.
            nonlocal counted
            done = step.result.size if step.HasField("result") else step.resumed_from + step.fetched
            if done > counted and outgoing.on_bytes is not None:
                outgoing.on_bytes(done - counted)
                counted = done

        request = pb.PullFileRequest(
            header=header, url=outgoing.source_url, bandwidth_bps=outgoing.bandwidth_bps or 0
        )
        return await dest.pull_file(request, outgoing.deadline_s, progress)

    async def delete(self, record_id: str, sync_location: str) -> None:
        client = self.links.agents.client(await self._online())
        await client.delete_file(record_id, sync_location)

    def owns(self, sync_location: str) -> bool:
        # `agent:sync/PATH/…` (relative to its storage root), or `agent:/…/sync/PATH/…` from older agents.
        agent, _, where = sync_location.partition(":")
        return agent == self.agent and f"/sync/{self.path}/" in f"/{where}"
