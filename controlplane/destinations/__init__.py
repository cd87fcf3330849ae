"""Where copies go: one class per kind of destination, all behind the `Destination` protocol.

`agent.py` has another of our agents pull the file from the source agent's HTTP port (or streams
it over gRPC from an agent without one), `peer.py` imports into another deployment over
HTTPS, `s3.py` uploads to a bucket (`bucket/`: S3-compatible storage itself). `locations.py` turns
an allowed `location` string into one of them; the sync jobs (`controlplane.sync`) and the services
know nothing else about them.

A layer below `services` and `sync`, which both use it: nothing here imports either."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from controlplane.agents.pool import AgentPool
from controlplane.models import Agent, Record
from shared.names import safe_tag

# An online agent by name (its address, and the site its token names), or None when it is offline or
# unknown.
OnlineAgent = Callable[[str], Awaitable[Agent | None]]


@dataclass(frozen=True)
class Links:
    """What destinations need from the running control plane to reach agents."""

    agents: AgentPool
    online_agent: OnlineAgent


@dataclass(frozen=True)
class Outgoing:
    """One record's bytes on their way: exactly `record.size_bytes` hashing to `record.hash_md5`."""

    record: Record
    tag_name: str
    chunks: AsyncIterator[bytes]
    deadline_s: float  # for the whole copy, sized for the slowest rate we accept
    attempt: int = 1  # > 1: an earlier attempt of this copy failed and may have left something behind
    # For a destination that fetches the bytes itself (`chunks` then stays unread, so nothing is sent):
    source_url: str | None = None  # signed on the source agent's HTTP port; None: it has none
    on_bytes: Callable[[int], None] | None = None  # progress of such a fetch, as `chunks` would count it
    bandwidth_bps: int | None = None  # the job's cap, which such a fetch must hold itself

    @property
    def size(self) -> int:
        assert self.record.size_bytes is not None
        return self.record.size_bytes

    @property
    def md5(self) -> str:
        assert self.record.hash_md5
        return self.record.hash_md5


class Destination(Protocol):
    """A place that receives verified copies of finished records."""

    async def copy(self, outgoing: Outgoing) -> str:
        """Copy and verify; returns the record's new sync_location. Raises a ServiceError to retry."""
        ...

    async def delete(self, record_id: str, sync_location: str) -> None:
        """Remove the copy at `sync_location` (one this destination owns)."""
        ...

    def owns(self, sync_location: str) -> bool:
        """Whether a copy at `sync_location` is already in this destination."""
        ...


def copy_key(tag_name: str, record: Record) -> str:
    return f"{safe_tag(tag_name)}/{record.id}.mp4"
