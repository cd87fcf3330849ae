"""Heartbeats that bring nothing new, answered from memory and written in bulk.

Most beats of a steady fleet say only "still here" (with the disk's free bytes): the agent holds the
current assignment, no probe changed, no record changed, no stop waits for it. Such a beat costs
this replica no database work at all: it is answered from what the replica last read, and noted;
every `FLUSH_S` one flush writes every noted beat in one statement and reads the few things a
quiet answer depends on (the assignment token, the agents with a stop to hear). Anything else is
the full exchange (services.heartbeats), which also teaches this replica who the agent is.

Nothing here is a decision another replica could contradict: the flush writes liveness only where
the database still holds the agent in good standing (not revoked, not declared down, not silent for
longer than counts as online), with the same conditional UPDATE on every replica; an agent it finds
otherwise is forgotten, and its next beat takes the full exchange (which revives it, or refuses it).
An agent's silence is judged between its own beats (not between flushes, which a slow database or a
busy loop spaces out), less what this replica's own lateness may have made of it: a replica that
answers seconds late makes every agent look silent, and forgetting them all would turn their quiet
beats into full ones just when it can least afford them.
A replica whose flush fails (its database away) answers no quiet beat until one succeeds again, nor
when its last read is older than `STALE_S` (a flush stuck; time its own loop was too late to run
the flush does not count): the full exchange then answers 503 and the agent backs off, as before."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.agent_identity import AgentIdentity
from controlplane.data import agents as agents_data
from controlplane.data import list_versions
from controlplane.data import records as records_data
from controlplane.db import utcnow
from controlplane.loop_lag import LoopLag
from controlplane.settings import Settings
from shared.camera_networks import CameraNetworks
from shared.heartbeat import HeartbeatIn, HeartbeatOut

log = logging.getLogger(__name__)
FLUSH_S = 0.5
STALE_S = 3.0  # a quiet answer trusts a read this old at most (a flush may wait behind a busy loop)
# An agent waits for each answer before its pause: the silence between two of its beats spans two
# waits in this replica's queue (the previous beat's answer, then this beat's turn).
OWN_WAITS = 2


def own_silence(lag: LoopLag, settings: Settings, seconds: float) -> float:
    """How much of an agent's silence over the last `seconds` this replica may have made itself: two
    waits, each as long as its worst lateness meanwhile (its loop's, a beat's that needed the
    database, a flush's), or while it shed heartbeats at least the queue bound it sheds at."""
    late = max(lag.worst_since(seconds), lag.overdue())
    if lag.shed_since(seconds):
        late = max(late, settings.heartbeat_shed_queue_s)
    return OWN_WAITS * late


def _identity(beat: HeartbeatIn, who: AgentIdentity | None) -> tuple[object, ...]:
    """What the full exchange checks and writes once: while it is the same, a beat needs neither."""
    return (
        beat.address,
        beat.http_address,
        beat.public_url,
        beat.site,
        beat.version,
        beat.capacity,
        None if who is None else (who.name, who.site),
    )


class Full(StrEnum):
    """Why a beat takes the full exchange (videorec_heartbeats_full_total's label)."""

    UNREAD = "unread"  # this replica has no recent read of the database (starting, or it is away)
    UNKNOWN = "unknown"  # no full beat of this agent on this replica yet, or its address or facts changed
    ASSIGNMENT = "assignment"  # what it must watch changed (or it holds none yet)
    REPORTS = "reports"  # probes or records changed
    STOPS = "stops"  # a record of it must be stopped


@dataclass(frozen=True)
class _Seen:
    at: datetime
    active_records: int
    disk_free_bytes: int
    disk_total_bytes: int
    disk_reserve_bytes: int
    paused_records: int


@dataclass
class _Heard:
    """An agent's quiet beats noted since the last flush: when the first came, the longest gap between
    two of them (what its silence is judged on, whenever the flush comes)."""

    first: datetime
    last: datetime
    gap: timedelta = timedelta(0)


@dataclass
class _Read:
    """What the last flush read: a quiet answer holds only while it is recent."""

    token: str
    stopping: frozenset[str]  # agents with a record to be told to stop
    answer: bytes  # the quiet answer, the same for every agent: serialised once per read
    at: float = field(default_factory=time.monotonic)


class QuietBeats:
    def __init__(self) -> None:
        self._known: dict[str, tuple[object, ...]] = {}  # agent → identity its last full beat wrote
        self._noted: dict[str, _Seen] = {}  # quiet beats not flushed yet, the latest per agent
        self._heard: dict[str, _Heard] = {}  # the same beats' spacing
        self._read: _Read | None = None
        self._lag = LoopLag()  # this replica's lateness (run's): a fresh one says it kept time
        self.answered = 0  # quiet beats answered (tests, the bench)

    def answer(self, beat: HeartbeatIn, who: AgentIdentity | None) -> bytes | Full:
        """The answer to a beat with nothing new (a HeartbeatOut as JSON), noted for the next flush;
        else why it needs the full exchange."""
        read = self._read
        if read is None:
            return Full.UNREAD
        age = time.monotonic() - read.at
        # A loop too busy to run the flush on time is this replica's lateness, not a flush stuck:
        # turning every beat into a full one then would only load it further.
        if age - max(self._lag.worst_since(age), self._lag.overdue()) > STALE_S:
            return Full.UNREAD
        if self._known.get(beat.name) != _identity(beat, who):
            return Full.UNKNOWN
        if beat.assignment != read.token:
            return Full.ASSIGNMENT
        if beat.probes or beat.records:
            return Full.REPORTS
        if beat.name in read.stopping:
            return Full.STOPS
        now = utcnow()
        heard = self._heard.get(beat.name)
        if heard is None:
            self._heard[beat.name] = _Heard(now, now)
        else:
            heard.gap, heard.last = max(heard.gap, now - heard.last), now
        self._noted[beat.name] = _Seen(
            now,
            beat.active_records,
            beat.disk_free_bytes,
            beat.disk_total_bytes,
            beat.disk_reserve_bytes,
            beat.paused_records,
        )
        self.answered += 1
        return read.answer

    def took(self, beat: HeartbeatIn, who: AgentIdentity | None) -> None:
        """The full exchange of `beat` committed: the database holds who the agent is."""
        self._known[beat.name] = _identity(beat, who)
        self._noted.pop(beat.name, None)  # its row is newer than what was noted
        self._heard.pop(beat.name, None)

    def knows(self, name: str) -> bool:
        """Whether a beat of `name` may be answered quietly here (its identity known)."""
        return name in self._known

    def forget(self, name: str) -> None:
        self._known.pop(name, None)
        self._noted.pop(name, None)
        self._heard.pop(name, None)

    async def flush(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        networks: CameraNetworks,
        lag: LoopLag | None = None,
    ) -> None:
        """`lag`: this replica's lateness (without it, every silence is the agent's)."""
        lag = lag or self._lag
        noted, self._noted = self._noted, {}
        heard, self._heard = self._heard, {}
        started = time.monotonic()
        try:
            async with sessions() as session:
                if noted:
                    await self._write(session, noted, heard, settings, lag)
                token = await list_versions.assignment_token(session)
                stopping = await records_data.agents_with_stops(session)
                await session.commit()
        except BaseException:
            for name, seen in noted.items():  # written by the next flush, unless a newer beat is noted
                self._noted.setdefault(name, seen)
                if name in heard:
                    self._heard[name] = _merged(heard[name], self._heard.get(name))
            raise
        finally:
            # Liveness written this late is silence this replica made (other replicas read it too).
            lag.note(time.monotonic() - started)
        quiet = HeartbeatOut(
            interval_s=settings.heartbeat_interval_s,
            sources=None,
            assignment=token,
            protected_tags=None,
            camera_networks=networks,
        )
        self._read = _Read(token, frozenset(stopping), quiet.model_dump_json().encode())

    async def _write(
        self,
        session: AsyncSession,
        noted: dict[str, _Seen],
        heard: dict[str, _Heard],
        settings: Settings,
        lag: LoopLag,
    ) -> None:
        """Liveness of the agents the database still holds in good standing, one statement for all;
        the others are forgotten (revoked, declared down or silent too long meanwhile: their next
        beat is a full one, which revives or refuses them). Silent too long: between two of its beats
        (the last one written, the ones noted since) for longer than counts as online plus what this
        replica's own lateness may have made of it."""
        rows = {row.name: row for row in await agents_data.standing(session, list(noted))}
        offline = timedelta(seconds=settings.offline_after_s())
        now = utcnow()
        good = {}
        for name, seen in noted.items():
            row = rows.get(name)
            if row is None or row.revoked_utc is not None or row.last_seen_utc is None:
                self._known.pop(name, None)
                continue
            spacing = heard.get(name) or _Heard(seen.at, seen.at)
            silence = max(spacing.first - row.last_seen_utc, spacing.gap)
            allowed = offline + timedelta(
                seconds=own_silence(lag, settings, (now - row.last_seen_utc).total_seconds())
            )
            if (row.down_utc is not None and row.down_utc >= row.last_seen_utc) or silence > allowed:
                self._known.pop(name, None)
            elif seen.at > row.last_seen_utc:  # else another replica wrote a later beat
                # The UPDATE checks the standing again (another replica may declare it down
                # meanwhile), the silence as judged here: from the first beat noted since.
                good[name] = {"name": name, "online_since": spacing.first - allowed, **seen.__dict__}
        await agents_data.note_seen(session, list(good.values()))

    async def run(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        networks: CameraNetworks,
        lag: LoopLag | None = None,
    ) -> None:
        """`networks`: the camera policy as agents are told it (services.camera_policy.networks_of);
        `lag`: this replica's lateness."""
        self._lag = lag or self._lag
        while True:
            try:
                await self.flush(sessions, settings, networks, lag)
            except Exception as exc:  # a database away for a while must not end the loop
                log.warning("could not write quiet heartbeats: %s", exc)
                self._read = None
            await asyncio.sleep(FLUSH_S)


def _merged(older: _Heard, newer: _Heard | None) -> _Heard:
    """Beats noted before a failed flush and after it, as if noted together."""
    if newer is None:
        return older
    return _Heard(older.first, newer.last, max(older.gap, newer.gap, newer.first - older.last))
