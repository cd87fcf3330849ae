"""Copies of other agents' records received by sync. Owns `<storage_root>/sync/` and the `copies`
table of the agent's journal database: what a copy is (`model`), where it goes (`paths`), its row
(`table`), the copies this agent keeps (`store`), how bytes are checked against their header
(`verify`) and land on disk for good (`durable`), and the two ways in: a stream written from byte 0
(`receive`, the gRPC fallback) and a pull's file that a later pull resumes (`resume`).

A copy is written to a file beside its final name, hashed while it is written, fsynced, and renamed
into place only when its size and MD5 equal the header's; a copy that fails verification leaves
nothing behind. Like `agent.journal`, the SQLite calls are synchronous on the event loop: one small
write per copy."""
