"""/api/v1/audit: the audit trail (admins), newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from controlplane.api.access import Requires
from controlplane.api.deps import Offset, SessionDep
from controlplane.auth.roles import Permission
from controlplane.models.audit import AuditEntryPublic
from controlplane.services import audit

router = APIRouter(prefix="/audit", tags=["audit"])
Text = Annotated[str | None, Query(min_length=1, max_length=300, pattern=r"^[^\x00]+$")]


@router.get("", response_model=list[AuditEntryPublic], dependencies=[Requires(Permission.READ_AUDIT)])
async def list_audit(
    session: SessionDep,
    since: Annotated[AwareDatetime | None, Query(description="entries at or after this time")] = None,
    until: Annotated[AwareDatetime | None, Query(description="entries before this time")] = None,
    user: Annotated[Text, Query(description="who: a user's (or agent's) name")] = None,
    action: Annotated[Text, Query(description="e.g. delete_record_file, start_recording")] = None,
    target: Annotated[Text, Query(description="e.g. record:ID, tag:NAME, source:ID")] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many entries")] = 100,
) -> list[AuditEntryPublic]:
    where = audit.AuditFilter(since=since, until=until, actor=user, action=action, target=target)
    return [AuditEntryPublic.of(row) for row in await audit.page(session, where, offset, limit)]
