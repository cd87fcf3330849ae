"""The protocol's enums and the project's own, mapped once for both sides of the wire."""

from shared.enums import RecordStatus
from shared.rpc import agent_pb2 as pb

RECORD_STATUS_TO_PB: dict[RecordStatus, pb.RecordStatus] = {
    RecordStatus.PENDING: pb.RECORD_STATUS_PENDING,
    RecordStatus.RECORDING: pb.RECORD_STATUS_RECORDING,
    RecordStatus.STOPPING: pb.RECORD_STATUS_STOPPING,
    RecordStatus.COMPLETED: pb.RECORD_STATUS_COMPLETED,
    RecordStatus.FAILED: pb.RECORD_STATUS_FAILED,
    RecordStatus.INTERRUPTED: pb.RECORD_STATUS_INTERRUPTED,
    RecordStatus.DELETED: pb.RECORD_STATUS_DELETED,
}
RECORD_STATUS_FROM_PB: dict[pb.RecordStatus, RecordStatus] = {v: k for k, v in RECORD_STATUS_TO_PB.items()}
