"""Tickets of the live WebSocket: one use, short-lived, naming who asked, kept in the database that
every replica shares (so a ticket spent at one replica is spent at all)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.auth.principal import BOOTSTRAP, ActorKind, Principal
from controlplane.auth.roles import Role
from controlplane.services import live_tickets

pytestmark = pytest.mark.anyio


async def test_a_ticket_opens_once_and_only_until_it_expires(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer = Principal(ActorKind.SSO, "alice", Role.VIEWER)
    first, second = await live_tickets.issue(sessions, viewer), await live_tickets.issue(sessions, BOOTSTRAP)
    assert first.ticket != second.ticket
    assert await live_tickets.redeem(sessions, first.ticket) == viewer
    assert await live_tickets.redeem(sessions, first.ticket) is None  # used up
    real_now = live_tickets.utcnow
    monkeypatch.setattr(
        live_tickets, "utcnow", lambda: real_now() + timedelta(seconds=live_tickets.TICKET_TTL_S + 1)
    )
    assert await live_tickets.redeem(sessions, second.ticket) is None  # expired


async def test_forged_and_malformed_tickets_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    ticket = (await live_tickets.issue(sessions, BOOTSTRAP)).ticket
    for bad in ("", "x", "1.2.3", ticket[:-1], ticket + "x", ticket.upper(), "²" + ticket[1:], "9" * 300):
        assert await live_tickets.redeem(sessions, bad) is None, bad
    assert await live_tickets.redeem(sessions, ticket) == BOOTSTRAP
