"""Replicas that were late lately: written by a replica whose own requests waited (it shed heartbeats
or its loop stalled), read by every replica's failover check. The database is the referee: an agent
silent because its beats waited on one replica must not be failed over by another."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.db import UtcDateTime


class ReplicaLate(SQLModel, table=True):
    """The last moment one replica (a process: host and a random suffix) knew itself late."""

    __tablename__ = "replica_late"

    replica: str = SQLField(primary_key=True, max_length=128)
    late_utc: datetime = SQLField(sa_type=UtcDateTime, nullable=False, index=True)
