"""How far the control plane has read each agent's journal: the last change it took.

It lives in the database it describes, so a database restored from an older backup also holds the
older mark, and the journal is read on from there: what was recorded after the backup comes back."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.models.common import utc_field


class JournalSync(SQLModel, table=True):
    """One agent's mark: records whose last change is after (synced_unix, synced_record_id) are unread."""

    __tablename__ = "journal_sync"

    agent_name: str = SQLField(primary_key=True, max_length=128)
    synced_unix: float = SQLField(default=0.0, nullable=False, sa_column_kwargs={"server_default": "0"})
    synced_record_id: str = SQLField(
        default="", max_length=64, nullable=False, sa_column_kwargs={"server_default": ""}
    )
    # A replica reading this journal now: the others leave it alone until the claim is stale.
    claimed_utc: datetime | None = utc_field()
