"""The one lookup of a record's file, for every path that serves or reads one (the gRPC file calls,
the HTTP media route): one of the agent's own recordings first (looked up in memory: a player asks
for hundreds of ranges), else a registered copy of the record at exactly that location (a record
synced here from another agent, or imported). The order cannot change what is found: a copy's
location is under the copies directory, never one of a recording's own."""

from __future__ import annotations

from agent.errors import FileAccessError, UnknownRecordError
from agent.files.copies.store import CopyStore
from agent.recording.manager import RecordManager
from agent.recording.served import ServedFile


def find_file(records: RecordManager, copies: CopyStore | None, record_id: str, location: str) -> ServedFile:
    """The file `location` of `record_id` names. UnknownRecordError when the agent has neither a
    recording nor a copy of it; FileAccessError when it has the record but not at that location (or
    the location leaves the storage root)."""
    try:
        return records.resolve_file(record_id, location)
    except (UnknownRecordError, FileAccessError) as own:
        if copies is None:
            raise
        try:
            copy = copies.resolve(record_id, location)
        except UnknownRecordError:
            raise own from None  # no copy there either: what the recordings said
        return ServedFile(copy.path, growing=False, hash_md5=copy.hash_md5, final=True)
