"""What the running agent holds: its settings and the long-lived helpers its handlers share."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import httpx

from agent import __version__
from agent.copies import CopyStore
from agent.live import LiveHub
from agent.prober import Prober
from agent.recordings import RecordManager
from agent.settings import AgentSettings
from shared.heartbeat import HeartbeatIn
from shared.rpc import agent_pb2 as pb


@dataclass
class RuntimeState:
    settings: AgentSettings
    http: httpx.AsyncClient
    hub: LiveHub
    prober: Prober
    records: RecordManager
    copies: CopyStore  # copies of other agents' records received by sync
    address: str = ""

    def active_records(self) -> int:
        return self.records.active_count()

    def info(self) -> pb.AgentInfo:
        usage = shutil.disk_usage(self.settings.storage_root)
        return pb.AgentInfo(
            name=self.settings.name,
            version=__version__,
            capacity=self.settings.capacity,
            active_records=self.active_records(),
            disk_free_bytes=usage.free,
            disk_total_bytes=usage.total,
            storage_root=str(self.settings.storage_root),
        )

    def heartbeat(self) -> HeartbeatIn:
        usage = shutil.disk_usage(self.settings.storage_root)
        return HeartbeatIn(
            name=self.settings.name,
            address=self.address,
            version=__version__,
            capacity=self.settings.capacity,
            active_records=self.active_records(),
            disk_free_bytes=usage.free,
            disk_total_bytes=usage.total,
        )
