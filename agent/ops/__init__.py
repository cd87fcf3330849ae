"""The agent's own HTTP port (`VIDEOREC_AGENT_HTTP_PORT`): `/healthz` and `/readyz` for probes and
load balancers, `/metrics` for Prometheus, and `/media/{record}` for URLs the control plane signed
(a record's own file, nothing else of the storage root). Nothing on it reaches a camera."""
