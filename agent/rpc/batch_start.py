"""StartRecords: a group start sends each agent one call with all its records, instead of one call
per record. Each entry is answered on its own (a refused entry does not fail the others), once its
ffmpeg has opened the camera or its first attempt is over, or when the caller's wait runs out."""

from __future__ import annotations

import logging
import time

import grpc
from prometheus_client import Counter

from agent.metrics_registry import REGISTRY
from agent.recording.manager import RecordManager, StartEntry
from agent.rpc.convert import record_state, spec_from_proto
from agent.rpc.status import status_of
from shared.rpc import agent_pb2 as pb

# What the start RPCs carry; a test proves a group start is one call per agent with these.
START_CALLS = Counter(
    "videorec_agent_start_calls",
    "Start RPCs received, by method (StartRecord: one record, StartRecords: a batch)",
    ["method"],
    registry=REGISTRY,
)
START_ENTRIES = Counter(
    "videorec_agent_start_entries", "Records asked to start, over both start RPCs", registry=REGISTRY
)
log = logging.getLogger(__name__)
MAX_WAIT_S = 60.0  # a caller's wait is capped: an answer must come well within any sane deadline


async def start_records(records: RecordManager, request: pb.StartRecordsRequest) -> pb.StartRecordsResponse:
    START_CALLS.labels("StartRecords").inc()
    START_ENTRIES.inc(len(request.records))
    entries = [
        StartEntry(r.record_id, r.tag_name, spec_from_proto(r.source), r.source.ffmpeg_cmd or None)
        for r in request.records
    ]
    started = time.monotonic()
    outcomes = await records.start_many(entries, wait_s=min(max(request.wait_s, 0.0), MAX_WAIT_S))
    results = []
    for entry, outcome in zip(entries, outcomes, strict=True):
        if isinstance(outcome, Exception):
            # The table's code (a CapacityError: RESOURCE_EXHAUSTED); anything else is the entry's own
            # fault (a spec the manager refused).
            code = (status_of(outcome) or (grpc.StatusCode.INVALID_ARGUMENT, ""))[0]
            results.append(
                pb.StartRecordResult(record_id=entry.record_id, error_code=code.value[0], error=str(outcome))
            )
        else:
            results.append(
                pb.StartRecordResult(
                    record_id=entry.record_id,
                    state=record_state(outcome),
                    opened=records.opened(entry.record_id),
                )
            )
    opened = sum(1 for r in results if r.opened)
    log.info(
        "StartRecords: %d records, %d refused, %d with their camera open after %.2f s",
        len(entries),
        sum(1 for r in results if r.error_code),
        opened,
        time.monotonic() - started,
    )
    return pb.StartRecordsResponse(results=results)
