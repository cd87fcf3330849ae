"""The control plane: owns the metadata (sources, groups, tags, records, agents) and the REST API.

It never touches video files itself; it asks the recorder agent that holds them over gRPC.
Apart from the database it keeps no state, so several replicas can share one PostgreSQL.
"""

__version__ = "0.1.0"
