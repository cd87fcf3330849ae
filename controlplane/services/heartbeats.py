"""The heartbeat exchange: who an agent is and where it may be reached, its facts and probes taken
in, its records' reports applied, and what it must watch answered (only what changed, once it holds
the current assignment). A beat that brings nothing new never gets here: controlplane.quiet_beats
answers it from memory."""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.agent_identity import AgentIdentity
from controlplane.agents.convert import assigned_source
from controlplane.data import agents as agents_data
from controlplane.data import list_versions
from controlplane.data import records as records_data
from controlplane.data import sources as sources_data
from controlplane.db import utcnow
from controlplane.errors import SiteRefusedError, UnauthorizedError, invalid
from controlplane.models import Agent
from controlplane.services import audit, camera_policy
from controlplane.services import tags as tags_service
from controlplane.services.record_state import apply_report
from controlplane.settings import Settings
from shared.enums import RecordStatus, SourceStatus
from shared.heartbeat import AssignedSource, HeartbeatIn, HeartbeatOut
from shared.media_urls import check_public_url

log = logging.getLogger(__name__)


# What the control plane will dial: a host name or IP and a port, nothing a resolver or gRPC would read
# as another transport (unix:, a path, a URL with credentials).
_ADDRESS = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$")
# What an agent reports of a record it is recording (or about to).
_RUNNING = frozenset({RecordStatus.PENDING, RecordStatus.RECORDING})


def _returning(existing: Agent | None, now: datetime, settings: Settings) -> bool:
    """This heartbeat starts a run of them: a new agent, or one silent or declared down since."""
    if existing is None or existing.last_seen_utc is None:
        return True
    if existing.down_utc is not None and existing.down_utc >= existing.last_seen_utc:
        return True
    return now - existing.last_seen_utc > timedelta(seconds=settings.offline_after_s())


def check_address(address: str, field: str = "address", what: str = "gRPC server") -> None:
    host_port_ok = _ADDRESS.match(address) is not None and 0 < int(address.rsplit(":", 1)[1]) <= 65535
    if not host_port_ok:
        raise invalid(("body", field), f"must be host:port of the agent's {what}")
    try:
        ip = ipaddress.ip_address(_host(address))
    except ValueError:
        return  # a name: dialled as it resolves where the control plane runs
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip.is_unspecified:
        # No agent lives there, but cloud metadata (169.254.169.254) does.
        raise invalid(("body", field), "may not be a link-local or unspecified address")


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0].removeprefix("[").removesuffix("]").lower()


def check_http_address(http_address: str, address: str) -> None:
    """The proxy relays what the HTTP address answers: it must be the host the control plane already
    dials with the agent's token, never a port elsewhere (metadata, the control plane's neighbours)."""
    check_address(http_address, "http_address", "HTTP port")
    if _host(http_address) != _host(address):
        raise invalid(("body", "http_address"), "must be on the host of the agent's gRPC address")


def _check_site(existing: Agent | None, who: AgentIdentity, beat: HeartbeatIn) -> None:
    """An agent's site decides which cameras, and so which passwords, it is given: it is the
    enrolment's word (a vra2 token), or for an older vra1 token the site it first reported, never
    what a later heartbeat says."""
    if who.site is None and existing is not None and existing.site_bound:
        # Re-enrolled with a site: its unbound token would dodge the binding.
        raise UnauthorizedError(f"agent {beat.name} was enrolled with a site: use its new token")
    bound = who.site if who.site is not None else existing.site if existing is not None else None
    if bound is not None and bound != beat.site:
        log.warning("agent %s named site %s but is bound to site %s: refused", beat.name, beat.site, bound)
        raise SiteRefusedError(f"agent {beat.name} is bound to site {bound}, not {beat.site}")


async def heartbeat(
    session: AsyncSession, settings: Settings, beat: HeartbeatIn, who: AgentIdentity | None = None
) -> HeartbeatOut:
    """`who`: what the caller's token proves (None with a shared token, which binds nothing)."""
    if who is not None and who.name != beat.name:
        raise UnauthorizedError(f"this token was issued to agent {who.name}, not {beat.name}")
    check_address(beat.address)
    if beat.http_address is not None:
        # Clients are redirected there: host:port only, never a URL of the agent's choosing.
        check_http_address(beat.http_address, beat.address)
    public_url = None
    if beat.public_url is not None:
        try:
            public_url = check_public_url(beat.public_url)
        except ValueError as exc:
            raise invalid(("body", "public_url"), str(exc)) from None
    now = utcnow()
    existing = await agents_data.get(session, beat.name)
    if existing is not None and existing.revoked_utc is not None:
        raise UnauthorizedError(f"agent {beat.name} is revoked")
    if who is not None:
        _check_site(existing, who, beat)
    returning = _returning(existing, now, settings)
    if returning and existing is not None and existing.down_utc is not None:
        log.info("agent %s is back after it was declared down", beat.name)
    row = existing or Agent(name=beat.name, address=beat.address, created_utc=now)
    if existing is None:
        await audit.agent_joined(session, beat.name, beat.site, beat.address, now)
    row.address = beat.address
    row.http_address = beat.http_address
    row.public_url = public_url
    row.site = beat.site  # checked above: the bound site itself, where there is one
    if who is not None and who.site is not None:
        row.site_bound = True
    if returning:
        row.up_since_utc = now
    row.version = beat.version
    row.capacity = beat.capacity
    row.active_records = beat.active_records
    row.disk_free_bytes = beat.disk_free_bytes
    row.disk_total_bytes = beat.disk_total_bytes
    row.disk_reserve_bytes = beat.disk_reserve_bytes
    row.paused_records = beat.paused_records
    row.last_seen_utc = now
    await agents_data.upsert(session, row)
    # Read before anything this beat places: a change committed meanwhile makes the next beat whole.
    assignment = await list_versions.assignment_token(session)
    mine, delta = None, None
    if beat.assignment == assignment:
        # Nothing an agent is told has changed anywhere since its last answer: no list of sources, no
        # credentials. (No beat places: controlplane.placement does, in a loop of its own.)
        protected = None
    else:
        delta = await _delta(session, beat, assignment)
        if delta is None:
            mine = await agents_data.sources_of(session, beat.name)
        protected = (
            None if _same_tags(beat.assignment, assignment) else await tags_service.protected_names(session)
        )
    if beat.probes:
        await _apply_probes(session, beat, now)
    ack, finished = await _apply_record_reports(session, beat) if beat.records else (0.0, [])
    stopping = await records_data.stopping_on_agent(session, beat.name)
    await session.flush()
    return HeartbeatOut(
        interval_s=settings.heartbeat_interval_s,
        sources=None if mine is None else [assigned_source(s) for s in mine],
        changed=None if delta is None else delta.changed,
        removed=[] if delta is None else delta.removed,
        assignment=assignment,
        records_ack_unix=ack,
        stop_records=[r.id for r in stopping] + finished,
        protected_tags=protected,
        camera_networks=camera_policy.networks_of(settings),
    )


@dataclass
class _Delta:
    changed: list[AssignedSource]  # added or changed since the version the agent holds
    removed: list[int]  # held by the agent, no longer its own


async def _delta(session: AsyncSession, beat: HeartbeatIn, assignment: str) -> _Delta | None:
    """What changed for this agent since the assignment it holds, source by source; None when it
    cannot say (an agent of the previous release sends no `held`; a token not of this database's
    counting, e.g. after a restore): then the whole list goes, as before."""
    held_v, now_v = list_versions.placed_version(beat.assignment), list_versions.placed_version(assignment)
    if beat.held is None or held_v is None or now_v is None or held_v > now_v:
        return None
    stamps = await agents_data.stamps_of(session, beat.name)
    held = set(beat.held)
    # A stamp newer than the held version: changed since (or placed here since). Not held: new to it.
    news = {sid for sid, v in stamps.items() if v > held_v or sid not in held}
    rows = await agents_data.sources_of(session, beat.name, news) if news else []
    return _Delta([assigned_source(s) for s in rows], sorted(held - stamps.keys()))


def _same_tags(held: str | None, current: str) -> bool:
    """The protected tags are the token's second part: unchanged, the answer need not repeat them."""
    return held is not None and held.partition(".")[2] == current.partition(".")[2]


async def _apply_record_reports(session: AsyncSession, beat: HeartbeatIn) -> tuple[float, list[str]]:
    """Reconciliation: what the agent recorded while nobody was listening becomes the record's state.

    Returns the newest change applied, which the agent takes as the point it need not resend before,
    and the records it reports recording that have ended here: an agent put back from a copy of its
    storage taken while they recorded resumes them from its journal, and nothing else would ever stop
    them (a record failed here whose start the agent did take is the same). The report is resent until
    acknowledged, so the stop is too."""
    known = await records_data.by_ids(session, {r.record_id for r in beat.records})
    ack = 0.0
    finished = []
    for report in beat.records:
        row = known.get(report.record_id)
        if row is not None and row.agent_name == beat.name:  # only the agent that holds it
            apply_report(row, report)
            if not row.status.active and report.status in _RUNNING:
                finished.append(row.id)
        ack = max(ack, report.updated_unix)
    return ack, finished


async def _apply_probes(session: AsyncSession, beat: HeartbeatIn, now: datetime) -> None:
    """Each probe's state on its source, one UPDATE per distinct state (most beats: one or two), only
    on the agent's own sources and only where the state changed."""
    states: dict[tuple[SourceStatus, str | None], list[int]] = {}
    for probe in beat.probes:
        status = SourceStatus.ONLINE if probe.online else SourceStatus.OFFLINE
        states.setdefault((status, probe.detail or None), []).append(probe.source_id)
    for (status, detail), ids in states.items():
        await sources_data.note_status(session, beat.name, ids, status, detail, now)
