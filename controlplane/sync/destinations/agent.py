"""Copies to another of our agents (`agent://NAME/PATH`), streamed over gRPC and verified there."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.errors import AgentUnavailableError, CopyVerificationError
from controlplane.sync.destinations import Links, Outgoing
from shared.rpc import agent_pb2 as pb


@dataclass(frozen=True)
class AgentDestination:
    agent: str
    path: str  # relative directory under the agent's sync root
    links: Links

    async def _address(self) -> str:
        address = await self.links.agent_address(self.agent)
        if address is None:
            raise AgentUnavailableError(f"destination agent {self.agent} is offline")
        return address

    async def copy(self, outgoing: Outgoing) -> str:
        size, md5 = outgoing.size, outgoing.md5
        dest = self.links.agents.client(self.agent, await self._address())
        header = pb.WriteFileHeader(record_id=outgoing.record.id, path=self.path, size=size, hash_md5=md5)
        result = await dest.write_file(header, outgoing.chunks, outgoing.deadline_s)
        if result.hash_md5 != md5 or result.size != size:
            raise CopyVerificationError(f"agent {self.agent} kept {result.hash_md5}, expected {md5}")
        return result.location

    async def delete(self, record_id: str, sync_location: str) -> None:
        client = self.links.agents.client(self.agent, await self._address())
        await client.delete_file(record_id, sync_location)

    def owns(self, sync_location: str) -> bool:
        return sync_location.startswith(f"{self.agent}:") and f"/sync/{self.path}/" in sync_location
