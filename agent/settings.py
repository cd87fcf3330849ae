"""The recorder agent's settings: one class, read from `VIDEOREC_AGENT_*` environment variables."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.media_urls import check_public_url


class AgentSettings(BaseSettings):
    # populate_by_name: a renamed setting keeps its old variable as an alias (validation_alias) and is
    # still set by its field name in code.
    model_config = SettingsConfigDict(
        env_prefix="VIDEOREC_AGENT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    name: str = Field(
        default_factory=lambda: socket.gethostname().split(".")[0] or "agent",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Unique name of this agent in its deployment (default: the host name).",
    )
    site: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Site of this agent: sources of a site fail over only to agents of the same site.",
    )
    grpc_host: str = Field("127.0.0.1", description="Address the gRPC server listens on.")
    grpc_port: int = Field(50051, ge=0, le=65535, description="gRPC port (0 picks a free one).")
    http_host: str = Field("127.0.0.1", description="Address of the HTTP port (health, metrics).")
    http_port: int = Field(
        0, ge=0, le=65535, description="HTTP port for /healthz, /readyz and /metrics (0 picks a free one)."
    )
    advertise_address: str | None = Field(
        None, description="host:port the control plane dials; default grpc_host and the bound port."
    )
    public_url: str | None = Field(
        None,
        description="Base URL clients reach this agent's HTTP port by (http(s)://host[:port][/prefix]); "
        "when set, the control plane redirects downloads of its records there instead of proxying them.",
    )
    storage_root: Path = Field(Path("data/agent"), description="Directory of recordings and the journal.")
    token: SecretStr | None = Field(
        None, description="Shared secret with the control plane; calls without it are refused."
    )
    controlplane_url: str = Field(
        "http://127.0.0.1:8080", description="Base URL of the control plane to send heartbeats to."
    )
    capacity: int = Field(64, ge=1, description="How many recordings this agent accepts at once.")
    heartbeat_retry_s: float = Field(
        2.0,
        gt=0,
        # VIDEOREC_AGENT_HEARTBEAT_INTERVAL_S: its name until 0.x, deprecated (it never set the interval).
        validation_alias=AliasChoices(
            "VIDEOREC_AGENT_HEARTBEAT_RETRY_S", "VIDEOREC_AGENT_HEARTBEAT_INTERVAL_S"
        ),
        description="Pause before the next heartbeat after a failed one, doubled at each failure up to "
        "heartbeat_retry_max_s (with jitter; a 503's Retry-After is waited out in full). While the "
        "control plane answers, it sets the interval. Formerly VIDEOREC_AGENT_HEARTBEAT_INTERVAL_S "
        "(still read, deprecated).",
    )
    heartbeat_retry_max_s: float = Field(
        5.0, gt=0, description="Longest pause between failed heartbeats (a 503's Retry-After aside)."
    )
    retention_interval_s: float = Field(
        5.0,
        gt=0,
        description="Seconds between retention passes (age, size and free-space eviction), whatever the "
        "heartbeats do: the disk fills at the same pace while the control plane is away.",
    )
    probe_interval_s: float = Field(3.0, gt=0, description="Seconds between probes of each camera.")
    probe_timeout_s: float = Field(5.0, gt=0, description="How long one camera probe may take.")
    snapshot_concurrency: int = Field(
        4, ge=1, le=64, description="Cold snapshots (ffmpeg grabs, HTTP fetches) run at once at most."
    )
    snapshot_timeout_s: float = Field(8.0, gt=0, description="How long one cold snapshot may take.")
    live_fps: float = Field(5.0, gt=0, le=30, description="Frame rate of a live reader (fan-out source).")
    live_linger_s: float = Field(5.0, ge=0, description="Keep a live reader this long after its last viewer.")
    stall_timeout_s: float = Field(
        10.0, gt=0, description="A recording whose file stops growing this long is restarted."
    )
    min_free_bytes: int | None = Field(
        None,
        ge=0,
        description="Free space kept on the storage disk; below it records pause until space returns "
        "(default: 1 GiB or 5 % of the disk, whichever is smaller).",
    )
    retention_max_age_s: float | None = Field(
        None, gt=0, description="Finished records older than this are deleted (unset: no age limit)."
    )
    retention_max_bytes: int | None = Field(
        None,
        gt=0,
        description="Finished records beyond this many bytes are deleted, oldest first (unset: off).",
    )
    max_backoff_s: float = Field(
        5.0,
        gt=0,
        description="Longest pause between a recording's reconnects to a lost camera (its ffmpeg restarts).",
    )
    ffmpeg_bin: str = Field("ffmpeg", description="ffmpeg executable.")
    tls_cert: Path | None = Field(None, description="PEM certificate of the gRPC server (enables TLS).")
    tls_key: Path | None = Field(None, description="PEM private key of the gRPC server.")
    tls_client_ca: Path | None = Field(None, description="CA that client certificates must chain to (mTLS).")
    log_level: str = Field("info", description="Log level of the agent.")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return check_public_url(value) if value else None
