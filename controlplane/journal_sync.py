"""Reconciliation from the agents' journals: the agents hold the truth of what they recorded.

A record exists in the database before any agent is asked to start it, so a database that lacks a
record an agent holds has lost it: restored from a backup older than the record, typically. Every
few seconds this loop looks for online agents whose journal no replica has read for
`journal_sync_interval_s`, and reads it on from the mark kept in the database (`JournalSync`) to its
end, a page at a time. A record the database lacks is put back as the journal has it (tag, source,
status, times, MD5, gaps, file location), with `recovered_utc` set, and the tag and source it needs
are put back too when they are gone. A record the database holds still running that the journal has
finished gets its end (a backup taken while it recorded). Everything else is the heartbeat's.

The mark lives in the database it describes, so a restored database reads on from where its backup
had got to: nothing needs to be told that a restore happened, on SQLite or PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.context import AppContext
from controlplane.data import journal_sync as marks
from controlplane.data import records as records_data
from controlplane.data import tags as tags_data
from controlplane.db import utcnow
from controlplane.errors import ServiceError
from controlplane.models import Agent, Record, Source
from controlplane.services.record_state import apply_report
from shared.enums import RecordStatus, SourceModel
from shared.redact import without_password
from shared.rpc import agent_pb2 as pb
from shared.rpc_convert import SOURCE_MODEL_FROM_PB, record_from_pb

log = logging.getLogger(__name__)

PAGE = 500
MAX_PAGES = 20  # per agent and pass: a long journal is read on at the next pass
POLL_S = 2.0  # how soon an agent that came online is read (each is read once per interval at most)
AT_ONCE = 4  # journals read at the same time by one replica
# Agents this process has said it could not read: an agent of the previous release stays so until
# it is upgraded, and saying it every interval would only fill the log.
_noted: set[str] = set()


async def run(ctx: AppContext) -> None:
    """The background loop of one replica."""
    poll = min(POLL_S, ctx.settings.journal_sync_interval_s)
    while True:
        try:
            await sync_once(ctx)
        except Exception:  # a database away for a while must not end the loop
            log.exception("journal sync")
        await asyncio.sleep(poll)


async def sync_once(ctx: AppContext) -> int:
    """Read the journal of every online agent that is due; returns how many records were put back."""
    settings = ctx.settings
    async with ctx.sessions() as session:
        now = utcnow()
        seen = now - timedelta(seconds=settings.offline_after_s())
        due = list(await marks.due(session, seen, now - timedelta(seconds=settings.journal_sync_interval_s)))
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(agent: Agent) -> int:
        async with gate:
            return await sync_agent(ctx, agent, now)

    return sum(await asyncio.gather(*(one(a) for a in due)))


async def sync_agent(ctx: AppContext, agent: Agent, now: datetime) -> int:
    stale_before = now - timedelta(seconds=ctx.settings.journal_sync_interval_s)
    recovered = 0
    async with ctx.sessions() as session:
        mark = await marks.claim(session, agent.name, now, stale_before)
        if mark is None:
            await session.rollback()
            return 0  # read lately, here or by another replica
        since, after = mark.synced_unix, mark.synced_record_id
        # The claim is committed before the agent is asked: no transaction waits on a remote call.
        await session.commit()
        client = ctx.agents.client(agent)
        seen = Seen()
        for _ in range(MAX_PAGES):
            try:
                page = await client.list_journal(since, after, PAGE)
            except ServiceError as exc:
                # An agent of the previous release has no ListJournal; one that went away is read later.
                level = logging.DEBUG if agent.name in _noted else logging.INFO
                log.log(level, "journal of agent %s not read: %s", agent.name, exc)
                _noted.add(agent.name)
                return recovered
            _noted.discard(agent.name)
            recovered += await take(session, agent.name, page.records, seen)
            if page.records:
                last = page.records[-1].state
                since, after = last.updated_unix, last.record_id
                await marks.advance(session, agent.name, since, after)
            await session.commit()
            if not page.more:
                break
    if recovered:
        log.warning(
            "agent %s: %d records the database lacked were put back from its journal", agent.name, recovered
        )
    return recovered


async def take(
    session: AsyncSession, agent_name: str, entries: Sequence[pb.JournalRecord], seen: Seen | None = None
) -> int:
    """Put back the records of one page the database lacks; returns how many this call inserted.
    `seen`: the tags and sources of earlier pages of the same pass, looked up (or made) once."""
    known = await records_data.by_ids(session, {e.state.record_id for e in entries})
    lost: list[dict[str, Any]] = []
    now = utcnow()
    # A journal holds many records of few tags and sources: each is looked up (or made) once.
    seen = seen or Seen()
    tags, sources = seen.tags, seen.sources
    for entry in entries:
        report = record_from_pb(entry.state)
        row = known.get(report.record_id)
        if row is not None:
            # Still running in a database restored from a backup taken while it recorded, finished on
            # the agent: its end. Only forward (apply_report), and only from the agent that holds it.
            if row.agent_name == agent_name and row.status.active and not report.status.active:
                apply_report(row, report)
            continue
        if report.status == RecordStatus.DELETED:
            continue  # nothing left to serve: not worth a row
        if (tag_id := tags.get(entry.state.tag_name)) is None:
            tag = await tags_data.get_or_create(session, entry.state.tag_name)
            assert tag.id is not None
            tag_id = tags[entry.state.tag_name] = tag.id
        camera = (entry.state.source_id, entry.uri_rtsp, entry.picture_uri)
        if (source_id := sources.get(camera)) is None:
            source_id = sources[camera] = await _source_id(session, agent_name, entry)
        fresh = _Fresh()
        apply_report(cast(Record, fresh), report)  # the heartbeat's one rule for a report's fields
        lost.append(
            vars(fresh)
            | {
                "id": report.record_id,
                "created_utc": datetime.fromtimestamp(report.begin_unix, UTC)
                if report.begin_unix > 0
                else now,
                "tag_id": tag_id,
                "source_id": source_id,
                "agent_name": agent_name,
                "recovered_utc": now,
            }
        )
    return await marks.add_records_if_absent(session, lost)


@dataclasses.dataclass
class Seen:
    """Tag ids by name and source ids by camera, found during one pass over a journal."""

    tags: dict[str, int] = dataclasses.field(default_factory=dict)
    sources: dict[tuple[int, str, str], int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Fresh:
    """The fields `apply_report` fills on a record not stored yet: a row's values without building a
    SQLModel object for each (1.3 ms apiece, most of the time of putting back a page)."""

    status: RecordStatus = RecordStatus.PENDING
    begin_utc: datetime | None = None
    end_utc: datetime | None = None
    location: str | None = None
    hash_md5: str | None = None
    size_bytes: int | None = None
    duration_s: float | None = None
    error: str | None = None
    gaps: list[dict[str, Any]] = dataclasses.field(default_factory=list)


async def _source_id(session: AsyncSession, agent_name: str, entry: pb.JournalRecord) -> int:
    """The source a recovered record belongs to: its own id when that source still names the same
    camera; else one put back for it (under its old id when that id is free). Its camera password is
    not there (agents never send one back): the admin sets it again."""
    state = entry.state
    uri_rtsp, picture_uri = entry.uri_rtsp or None, entry.picture_uri or None
    existing = await session.get(Source, state.source_id)
    if existing is not None and _camera(existing) == (uri_rtsp, picture_uri):
        return state.source_id
    description = f"recovered from the journal of agent {agent_name} (source {state.source_id})"
    earlier = await marks.recovered_source(session, description)
    if earlier is not None and earlier.id is not None:
        return earlier.id
    model = SOURCE_MODEL_FROM_PB.get(entry.model, SourceModel.SOURCE)
    source = Source(
        model=model,
        uri_rtsp=uri_rtsp,
        picture_uri=picture_uri,
        description=description,
        agent_name=agent_name,
    )
    if existing is None:
        source.id = state.source_id
        await marks.add_source_if_absent(session, source)
        return state.source_id
    # The id names another camera now (a source created after the restore took it): a new id.
    session.add(source)
    await session.flush()
    assert source.id is not None
    return source.id


def _camera(source: Source) -> tuple[str | None, str | None]:
    return (
        without_password(source.uri_rtsp) if source.uri_rtsp else None,
        without_password(source.picture_uri) if source.picture_uri else None,
    )
