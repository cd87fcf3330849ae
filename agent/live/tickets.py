"""Tickets to a camera session's live items on the agent's HTTP port (shared.live_frames).

A LiveStream call asked for them `over_http` holds the session and issues a ticket (random, handed
over on that authenticated call only); `GET /live/{ticket}` then reads the session's fan-out for as
long as the call lasts. When the call ends, its ticket is revoked and the readers it opened end."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from agent.live.session import CameraSession
from shared.media_fanout import Reader


class LiveTickets:
    def __init__(self) -> None:
        self._sessions: dict[str, CameraSession] = {}
        self._readers: dict[str, set[Reader]] = {}

    @contextmanager
    def issued(self, session: CameraSession) -> Iterator[str]:
        """A ticket to `session`'s items, valid while the block runs."""
        ticket = secrets.token_urlsafe(24)
        self._sessions[ticket] = session
        self._readers[ticket] = set()
        try:
            yield ticket
        finally:
            del self._sessions[ticket]
            for reader in self._readers.pop(ticket):
                reader.close()

    def reader(self, ticket: str) -> Reader | None:
        """A new reader of the ticket's session (None: no such ticket, or it was revoked); close it
        when done."""
        session = self._sessions.get(ticket)
        if session is None:
            return None
        reader = session.fanout.reader()
        self._readers[ticket].add(reader)
        return reader

    def release(self, ticket: str, reader: Reader) -> None:
        reader.close()
        readers = self._readers.get(ticket)
        if readers is not None:
            readers.discard(reader)
