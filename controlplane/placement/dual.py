"""Dual-recorded sources (`redundancy: 2`, controlplane/services/redundancy.py): when one of a
source's two agents is down, the other copy records on without a gap, and a third agent of the site,
when there is one with room, takes over the lost copy (its record gets a continuation like any other,
see placement.continuation). A second copy that found no agent at its tag's start is placed as soon
as one of the site has room. Every write is a conditional UPDATE; the loop commits."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import agents as agents_data
from controlplane.data import records as records_data
from controlplane.data import sources as sources_data
from controlplane.data import tags as tags_data
from controlplane.models import Agent, Source
from controlplane.placement.continuation import Continuation
from controlplane.placement.room import Room

log = logging.getLogger(__name__)


async def promote(
    session: AsyncSession, room: Room, source: Source, down: Agent, second: str, moved: dict[int, Agent]
) -> None:
    """The first agent of `source` is down: its second becomes its first, and a third (if any) its
    second, taking over the lost copy."""
    assert source.id is not None
    if not await agents_data.promote_second(session, source.id, down.name, second):
        return
    await _third(session, room, source.id, source.site or down.site, second, moved)


async def replace_lost_copies(
    session: AsyncSession, room: Room, down: Agent, moved: dict[int, Agent]
) -> None:
    """Sources whose second copy `down` recorded, and (on later checks) dual sources whose lost copy
    found no third agent before: one of the site may have joined or freed room since."""
    for source in await agents_data.seconds_of(session, down.name):
        assert source.id is not None
        if source.failover and await agents_data.drop_second(session, source.id, down.name):
            await _third(session, room, source.id, source.site or down.site, source.agent_name, moved)
    waiting = {r.source_id for r in await records_data.recording_on_agent(session, down.name)}
    ids = {s for s in waiting if s is not None and s not in moved}
    for source in (await sources_data.by_ids(session, ids)).values():
        assert source.id is not None
        await session.refresh(source)  # the UPDATEs above do not touch loaded rows
        alone = source.second_agent_name is None and source.agent_name not in (None, down.name)
        if source.redundancy >= 2 and source.failover and alone:
            await _third(session, room, source.id, source.site or down.site, source.agent_name, moved)


async def _third(
    session: AsyncSession, room: Room, source_id: int, site: str, first: str | None, moved: dict[int, Agent]
) -> None:
    third = room.pick(site, first)
    if third is not None and await agents_data.place_second(session, source_id, third.name, None):
        room.take(third)
        moved[source_id] = third


async def place_missing_copy(
    session: AsyncSession, room: Room, failed_id: str, now: datetime
) -> Continuation | None:
    """A second copy that found no agent at its tag's start, while the first copy records on, goes to
    an agent of the site with room as soon as there is one (it joined, or came back), as a record
    continuing the failed one, the time it missed a gap. The `continues` key, unique, lets one
    replica win each: None when this one lost or there is no agent yet (the caller rolls back)."""
    failed = await records_data.get(session, failed_id)
    tag = await tags_data.by_id(session, failed.tag_id)
    await session.refresh(tag)
    if tag.stopped_utc is not None and tag.stopped_utc >= failed.created_utc:
        return None  # stopped since (its first copy is on its way to `completed`)
    source = await sources_data.get(session, failed.source_id or 0)
    await session.refresh(source)
    first = await agents_data.get(session, source.agent_name or "")
    site = source.site or (first.site if first is not None else None)
    target = room.pick(site, source.agent_name) if site is not None else None
    if target is None or not await tags_data.claim_start(session, tag):
        return None
    new = failed.continuation(target.name, (failed.created_utc or now).isoformat(), now)
    placed = await records_data.add_continuation(session, new) and await agents_data.place_second(
        session, source.id or 0, target.name, source.second_agent_name
    )
    if not placed:
        return None  # another replica placed it first
    log.warning(
        "source %s: its missing second copy %s now records on %s as %s",
        source.id,
        failed.id,
        target.name,
        new.id,
    )
    return Continuation(await records_data.get(session, new.id), source, target, tag.name)
