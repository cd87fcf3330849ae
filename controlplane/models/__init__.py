"""Tables and API schemas, one module per resource (Base / Create / Update / table / Public)."""

from controlplane.models.agent import Agent
from controlplane.models.audit import AuditEntry
from controlplane.models.group import Group, GroupSourceLink
from controlplane.models.journal_sync import JournalSync
from controlplane.models.list_version import ListVersion
from controlplane.models.live_ticket import LiveTicketRow
from controlplane.models.record import Record
from controlplane.models.replica_late import ReplicaLate
from controlplane.models.source import Source
from controlplane.models.sync import SyncJob
from controlplane.models.tag import Tag
from controlplane.models.user import User

__all__ = [
    "Agent",
    "AuditEntry",
    "Group",
    "GroupSourceLink",
    "JournalSync",
    "ListVersion",
    "LiveTicketRow",
    "Record",
    "ReplicaLate",
    "Source",
    "SyncJob",
    "Tag",
    "User",
]
