"""The data layer: every SQL statement of the control plane. Functions flush, never commit: the
caller owns the transaction (see controlplane.services for when it commits).

Races between requests or replicas are settled here, by the database: conditional UPDATEs that only
one writer can win (a tag's start, a source's placement, an agent declared down, a sync job's lease)
and inserts that give way on a unique key (a tag, an agent's first heartbeat)."""
