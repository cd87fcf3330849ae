"""Recording by tag: start every source of a group on its agent, stop them, read them back."""

from __future__ import annotations

import asyncio
import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane import liveness
from controlplane.context import AppContext
from controlplane.data import agents as agents_data
from controlplane.data import groups as groups_data
from controlplane.data import records as records_data
from controlplane.data import sources as sources_data
from controlplane.data import tags as tags_data
from controlplane.errors import ConflictError, NotFoundError, ServiceError, invalid
from controlplane.models import Agent, Record, Source
from controlplane.services import agents as agents_service
from controlplane.services import redundancy
from controlplane.services.record_state import apply_report
from controlplane.services.start_batch import start_on_agents
from controlplane.services.tags import get_tag
from shared.enums import RecordStatus, SourceModel
from shared.rpc_convert import record_from_pb

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 120.0


async def start(
    ctx: AppContext, session: AsyncSession, tag_name: str, group_name: str, model: SourceModel | None
) -> list[Record]:
    group = await groups_data.by_name(session, group_name)
    if group is None or group.id is None:
        raise NotFoundError("group", repr(group_name))
    sources = [s for s in await sources_data.of_group(session, group.id) if model is None or s.model == model]
    if not sources:
        what = f"no {model.value} sources" if model else "no sources"
        raise invalid(("body", "group_name"), f"group {group_name!r} has {what}")
    tag = await tags_data.get_or_create(session, tag_name)
    assert tag.id is not None
    # The claim comes before the check: a start that loses the claim, or that finds records a start
    # committed before it, is a 409; the database orders them, not this process.
    if not await tags_data.claim_start(session, tag) or await records_data.active_of_tag(session, tag.id):
        await session.rollback()
        raise ConflictError(f"tag {tag_name!r} is already recording")
    rows = await records_data.add_all(session, [Record(tag_id=tag.id, source_id=s.id) for s in sources])
    # Where each source records is read first: one session is never used by two coroutines at once.
    serving = await agents_service.agents_for_sources(session, ctx.settings, sources)
    copies = [(row, source, serving[source.id or 0]) for row, source in zip(rows, sources, strict=True)]
    # Sources with redundancy 2 get a second record on a second agent of their site.
    copies += await redundancy.second_copies(session, ctx.settings, tag.id, sources, serving)
    plans: list[tuple[Record, Source, Agent]] = []
    for row, source, agent in copies:
        if isinstance(agent, ServiceError):
            _fail(row, agent)
            continue
        row.agent_name = agent.name
        plans.append((row, source, agent))
    await launch(ctx, session, tag_name, plans)
    return [row for row, _, _ in copies]


async def launch(
    ctx: AppContext, session: AsyncSession, tag_name: str, plans: list[tuple[Record, Source, Agent]]
) -> None:
    """Ask each agent to start its record, and take what it answers."""
    # The records exist before any agent is asked, so a crash here leaves pending records to reconcile.
    await session.commit()
    outcomes = await start_on_agents(ctx, tag_name, plans)  # one call per agent, all agents at once
    for (row, _, _), outcome in zip(plans, outcomes, strict=True):
        if isinstance(outcome, ServiceError):
            _fail(row, outcome)  # one camera or agent down must not stop the others
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            apply_report(row, record_from_pb(outcome))
    await session.commit()


def _fail(row: Record, exc: ServiceError) -> None:
    row.status = RecordStatus.FAILED
    row.error = exc.message
    log.warning("record %s of source %s failed to start: %s", row.id, row.source_id, exc.message)


async def stop(ctx: AppContext, session: AsyncSession, tag_name: str, model: SourceModel | None) -> bool:
    """Stop the tag's running records and wait for their files; False when an agent could not be
    reached (its records stay `stopping` and are finished when it comes back)."""
    tag = await get_tag(session, tag_name)
    assert tag.id is not None
    # Before the read: a failover continuing one of these records either lands before it (and its
    # continuation is read and stopped here) or loses its claim on the tag.
    await tags_data.bump(session, tag.id)
    rows = [r for r in await records_data.active_of_tag(session, tag.id)]
    if model is not None:
        sources = await sources_data.by_ids(session, {r.source_id for r in rows if r.source_id is not None})
        rows = [r for r in rows if r.source_id in sources and sources[r.source_id].model == model]
    calls = []
    delivered = True
    for row in rows:
        row.status = RecordStatus.STOPPING
        agent = await agents_data.get(session, row.agent_name) if row.agent_name else None
        if agent is None:
            row.status = RecordStatus.FAILED
            row.error = row.error or "never reached an agent"
            continue
        if not liveness.is_online(agent, ctx.settings):
            # Asking would only wait for a deadline: the agent's next heartbeat is told to stop it.
            delivered = False
            continue
        calls.append((row, ctx.agents.client(agent)))
    await session.commit()
    outcomes = await asyncio.gather(
        *(client.stop_record(row.id, STOP_TIMEOUT_S) for row, client in calls), return_exceptions=True
    )
    for (row, client), outcome in zip(calls, outcomes, strict=True):
        if isinstance(outcome, ServiceError):
            # Left `stopping`: the agent's next heartbeat is told to stop it, and reports the file.
            log.warning("stop of record %s on agent %s deferred: %s", row.id, client.name, outcome.message)
            delivered = False
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            apply_report(row, record_from_pb(outcome))
    await session.commit()
    return delivered


async def running(session: AsyncSession, tag_name: str) -> bool:
    tag = await tags_data.by_name(session, tag_name)
    if tag is None or tag.id is None:
        return False
    records = await records_data.active_of_tag(session, tag.id)
    return any(r.status == RecordStatus.RECORDING for r in records)
