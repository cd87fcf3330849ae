"""The agent's domain errors: raised by the recording and files packages, turned into gRPC status
codes in one place (`agent.rpc.servicer`)."""


class FileAccessError(Exception):
    """A location that is not the record's own, or a path outside the storage root."""


class UnknownRecordError(KeyError):
    """No record with that id on this agent."""


class CapacityError(Exception):
    """The agent already runs as many recordings as it may."""


class RecordBusyError(Exception):
    """The record is still recording (or finalising): its file cannot be deleted."""
