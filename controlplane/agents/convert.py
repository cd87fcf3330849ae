"""From a stored source to what an agent needs to reach the camera: `AssignedSource`
(shared.heartbeat), the one shape of a source on both wires. Its fields are read from the `Source`
row by name, so a new camera field (a column and an AssignedSource field of the same name) needs no
change here; shared.rpc_convert encodes it for gRPC."""

from __future__ import annotations

from controlplane.models import Source
from shared.heartbeat import AssignedSource
from shared.rpc import agent_pb2 as pb
from shared.rpc_convert import source_to_pb


def assigned_source(row: Source) -> AssignedSource:
    assert row.id is not None
    source = AssignedSource.model_validate(row, from_attributes=True)
    if source.picture_auth is not None and not row.picture_uri:
        source = source.model_copy(update={"picture_auth": None})  # an auth without its picture URI
    return source


def source_spec(row: Source) -> pb.SourceSpec:
    return source_to_pb(assigned_source(row))
