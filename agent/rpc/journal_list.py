"""ListJournal: the agent's records a page at a time, oldest change first, for a control plane that
lost some of them with its database (restored from an older backup) and learns them again here.

Pages are keyed on (last change, record id), so a page boundary among records changed at the same
instant loses none and repeats none. A camera's URL leaves without its password: the control plane
recreates a lost source from it, and its admin gives the password again."""

from __future__ import annotations

from agent.cameras.spec import CameraSpec
from agent.recording.manager import RecordInfo, RecordManager
from agent.rpc.convert import record_state
from shared.enums import SourceModel
from shared.redact import without_password
from shared.rpc import agent_pb2 as pb
from shared.rpc_convert import SOURCE_MODEL_TO_PB

DEFAULT_PAGE = 500
MAX_PAGE = 2000


def journal_page(records: RecordManager, request: pb.ListJournalRequest) -> pb.ListJournalResponse:
    limit = min(request.limit, MAX_PAGE) if request.limit > 0 else DEFAULT_PAGE
    since, after = request.changed_since_unix, request.after_record_id
    # list() takes changes strictly after its argument; the page starts at `since` itself.
    candidates = [
        info
        for info in records.list(_just_before(since))
        if info.updated_unix > since or (info.updated_unix == since and info.record_id > after)
    ]
    candidates.sort(key=lambda info: (info.updated_unix, info.record_id))
    page = candidates[:limit]
    return pb.ListJournalResponse(
        records=[_entry(info, records.recording(info.record_id).row.spec) for info in page],
        more=len(candidates) > limit,
    )


def _just_before(unix: float) -> float:
    return unix - 1e-6 if unix > 0 else 0.0


def _entry(info: RecordInfo, spec: CameraSpec) -> pb.JournalRecord:
    picture_only = spec.rtsp_url is None and spec.picture_url is not None
    return pb.JournalRecord(
        state=record_state(info),
        model=SOURCE_MODEL_TO_PB[SourceModel.PICTURE_SOURCE if picture_only else SourceModel.SOURCE],
        uri_rtsp=without_password(spec.rtsp_url) if spec.rtsp_url else "",
        picture_uri=without_password(spec.picture_url) if spec.picture_url else "",
    )
