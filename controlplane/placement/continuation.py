"""Records that go on elsewhere: those of an agent declared down, and continuations that failed on
the agent they were continued on. Each function writes (and flushes) one unit of work and leaves the
commit to the loop (placement.loop); None or [] means there was nothing to do or a race was lost."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import agents as agents_data
from controlplane.data import records as records_data
from controlplane.data import sources as sources_data
from controlplane.data import tags as tags_data
from controlplane.db import utcnow
from controlplane.models import Agent, Record, Source
from controlplane.placement.room import room
from controlplane.settings import Settings
from shared.enums import GapReason, RecordStatus

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3  # continuations of one record, the first included


@dataclass
class Continuation:
    record: Record  # the new record, on `agent`
    source: Source
    agent: Agent
    tag_name: str


async def continue_records(session: AsyncSession, down: Agent, moved: dict[int, Agent]) -> list[Continuation]:
    """The down agent's records still `recording`, each continued on the agent its source moved to."""
    rows = await records_data.recording_on_agent(session, down.name)
    sources = await sources_data.by_ids(session, {r.source_id for r in rows if r.source_id is not None})
    result = []
    for old in rows:
        target = moved.get(old.source_id or 0)
        if target is None:
            continue  # its source stays (failover off, pinned, no room): it waits for its agent
        tag = await tags_data.by_id(session, old.tag_id)
        await session.refresh(tag)
        # The tag's claim orders this against a concurrent stop of the tag (see recording.stop).
        if not await tags_data.claim_start(session, tag) or not await records_data.hand_over(session, old.id):
            log.info("record %s: not continued, its tag changed meanwhile", old.id)
            continue
        since = (down.last_seen_utc or utcnow()).isoformat()
        new = old.continuation(target.name, since, utcnow(), lost_agent=down.name)
        await records_data.add(session, new)
        result.append(Continuation(new, sources[old.source_id or 0], target, tag.name))
        log.warning("record %s of agent %s continues as %s on %s", old.id, down.name, new.id, target.name)
    return result


async def retry_failed(
    session: AsyncSession, settings: Settings, failed_id: str, now: datetime, before: datetime
) -> Continuation | None:
    """A continuation that failed on its agent (its ffmpeg got no video, say) is continued in turn, on
    another agent of the site when there is one, at most MAX_ATTEMPTS times per record, while its tag
    is not stopped. The `continues` key, unique, lets one replica win each attempt: None when this
    one lost, or when there is nothing to do (the caller rolls back)."""
    failed = await records_data.get(session, failed_id)
    # Back along the chain to the record that was lost with its agent; each failure on the way counts.
    attempts, lost = 1, await records_data.by_ids(session, {failed.continues or ""})
    root = lost.get(failed.continues or "")
    while root is not None and root.continues and root.status == RecordStatus.FAILED:
        attempts += 1
        root = (await records_data.by_ids(session, {root.continues})).get(root.continues)
    if attempts >= MAX_ATTEMPTS or failed.source_id is None or root is None:
        return None
    tag = await tags_data.by_id(session, failed.tag_id)
    await session.refresh(tag)
    if tag.stopped_utc is not None and tag.stopped_utc >= failed.created_utc:
        return None  # stopped since: nothing to continue
    source = await sources_data.get(session, failed.source_id)
    down = await agents_data.get(session, root.agent_name or "")
    if source.agent_pinned or not source.failover or down is None:
        return None
    where = await room(session, settings, down.name, before)
    site = source.site or down.site
    # A dual source's lost copy never goes to the agent of its other copy.
    second_copy = source.redundancy >= 2 and source.agent_name != failed.agent_name
    keep_off = source.agent_name if second_copy else None
    # Another agent than the one it failed on if there is one, else that one again.
    target = where.pick(site, failed.agent_name, keep_off) or where.pick(site, keep_off)
    if target is None or not await tags_data.claim_start(session, tag):
        return None
    gaps = [g for g in failed.gaps if g.get("reason") == GapReason.FAILOVER.value]
    since_lost = gaps[0]["start_utc"] if gaps else (failed.created_utc or now).isoformat()
    new = failed.continuation(target.name, since_lost, utcnow(), lost_agent=down.name)
    if not await records_data.add_continuation(session, new):
        return None  # another replica continued it first
    if second_copy:
        await agents_data.place_second(session, source.id or 0, target.name, source.second_agent_name)
    elif failed.agent_name and source.agent_name == failed.agent_name:
        await agents_data.move(session, source.id or 0, failed.agent_name, target.name)
    log.warning(
        "record %s failed on %s (%s): continues as %s on %s, attempt %d",
        failed.id,
        failed.agent_name,
        failed.error,
        new.id,
        target.name,
        attempts + 1,
    )
    return Continuation(await records_data.get(session, new.id), source, target, tag.name)
