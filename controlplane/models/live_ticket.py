"""Tickets that open the console's live WebSocket, kept in the database so that any replica redeems
a ticket another issued, and only once however many replicas are asked (services/live_tickets.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from controlplane.auth.principal import ActorKind
from controlplane.db import StrEnumColumn, UtcDateTime


class LiveTicketRow(SQLModel, table=True):
    """One unspent ticket: its hash (never the ticket), when it lapses and whom it was issued to."""

    __tablename__ = "live_ticket"

    ticket_hash: str = SQLField(primary_key=True, max_length=64)  # SHA-256 of the ticket
    expires_utc: datetime = SQLField(sa_type=UtcDateTime, nullable=False, index=True)
    actor_kind: ActorKind = SQLField(sa_column=Column(StrEnumColumn(ActorKind), nullable=False))
    actor: str | None = SQLField(default=None, max_length=128)
    role: str | None = SQLField(default=None, max_length=16)
