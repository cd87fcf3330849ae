"""The agent's own small HTTP port (`VIDEOREC_AGENT_HTTP_PORT`): `/healthz` and `/readyz` for probes
and load balancers, `/metrics` for Prometheus. Nothing on it reaches a camera or a file."""
