"""The control plane's settings: one class, read from `VIDEOREC_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import grpc
from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from controlplane.agent_identity import token_for
from shared.net import is_loopback


class PeerConfig(BaseModel):
    """Another deployment of this service that accepts imports."""

    token: SecretStr | None = Field(None, description="That deployment's API token")


class BucketSettings(BaseModel):
    """S3-compatible storage that accepts copies (one per bucket name in `sync_buckets`)."""

    model_config = ConfigDict(frozen=True)

    endpoint_url: str | None = Field(
        None, description="None for AWS itself, else e.g. https://minio.example:9000"
    )
    access_key_id: str = Field("", description="Access key of an account that may write the bucket.")
    secret_access_key: SecretStr = Field(SecretStr(""), description="Its secret key (never logged).")
    region: str = Field("us-east-1", description="Region the request signatures are made for.")
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "path", description="path style works with every S3-compatible server and with IP endpoints"
    )
    part_size: int = Field(
        8 * 1024 * 1024,
        ge=64 * 1024,
        le=5 * 1024**3,
        description="Multipart part size in bytes; larger records are sent in parts of this size. AWS and "
        "most compatible servers refuse parts under 5 MiB: go lower only for a server that allows it.",
    )


class Settings(BaseSettings):
    """Every field has a safe default, so the service starts with no configuration at all."""

    model_config = SettingsConfigDict(env_prefix="VIDEOREC_", env_file=".env", extra="ignore")

    http_host: str = Field("127.0.0.1", description="Address the REST API listens on.")
    http_port: int = Field(8080, ge=0, le=65535, description="Port of the REST API (0 picks a free one).")
    data_dir: Path = Field(Path("data"), description="Directory for the embedded SQLite database.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the metadata database; a postgresql:// URL switches to PostgreSQL. "
        "Default: a SQLite file videorec.db under data_dir.",
    )
    db_pool_size: int = Field(
        10,
        ge=1,
        le=1000,
        description="PostgreSQL connections each replica keeps open (SQLite: unused); one more of its own "
        "writes the liveness of heartbeats with nothing new, so that a busy pool cannot starve it.",
    )
    db_max_overflow: int = Field(
        20,
        ge=0,
        le=1000,
        description="PostgreSQL connections a replica may open beyond db_pool_size at peaks.",
    )
    db_pool_timeout_s: float = Field(
        5.0,
        gt=0,
        description="How long a request waits for a database connection; past it the answer is 503 with "
        "Retry-After (agents back off and beat again), never a 500.",
    )
    overload_retry_after_s: int = Field(
        2, ge=1, le=300, description="The Retry-After of a 503 given because the database is busy or away."
    )
    migrate_on_start: bool | None = Field(
        None,
        description="Upgrade the database schema when the service starts. Default: yes for SQLite; no for "
        "PostgreSQL, where `videorec-controlplane migrate` runs as a step of its own and replicas refuse "
        "a schema older than their code.",
    )
    api_token: SecretStr | None = Field(
        None,
        description="The bootstrap admin's bearer token; with it set, every /api/ request must carry this token, "
        "a user's key (`videorec-controlplane user add`) or an SSO token. Required (or oidc_issuer) to "
        "listen beyond loopback.",
    )
    oidc_issuer: str | None = Field(
        None,
        description="Single sign-on: the OIDC issuer whose JWTs are accepted as bearer tokens, e.g. "
        "https://sso.example/realms/site (its /.well-known/openid-configuration names its keys). https, or "
        "http on loopback only. Enables authentication like api_token does (docs/roles.md).",
    )
    oidc_audience: str | None = Field(
        None,
        description="The audience (aud) the issuer's tokens must name for this service; required with oidc_issuer.",
    )
    oidc_roles_claim: str = Field(
        "roles",
        min_length=1,
        max_length=128,
        description="The claim that carries the role names (viewer, operator, admin; the highest counts); a "
        "dotted path reaches into objects, e.g. realm_access.roles.",
    )
    oidc_timeout_s: float = Field(
        5.0, gt=0, le=60, description="Time-out of fetching the issuer's discovery document and keys."
    )
    oidc_keys_cache_s: float = Field(
        300.0,
        ge=1,
        le=86400,
        description="How long the issuer's keys are used before they are fetched again (a token signed by "
        "an unknown key fetches them at once, at most every 30 s).",
    )
    audit_retention_days: float = Field(
        365.0,
        gt=0,
        description="Audit entries older than this are deleted (checked every audit_purge_interval_s).",
    )
    audit_purge_interval_s: float = Field(
        3600.0, gt=0, description="How often a replica purges audit entries past their retention."
    )
    agent_token: SecretStr | None = Field(
        None,
        description="One secret shared by every agent (gRPC metadata and heartbeats), the older mode: "
        "set without agents_key, agents join with it and the embedded database makes no agents key.",
    )
    agents_key: SecretStr | None = Field(
        None,
        description="Key from which each agent's own token is derived (`videorec-controlplane enrol-agent "
        "NAME` prints it). When set, an agent can only act as the name its token was issued to, and the "
        "shared agent_token is no longer accepted.",
    )
    secrets_key: SecretStr | None = Field(
        None,
        description="Key that seals camera secrets (URLs with credentials, picture passwords) in the "
        "database: any long random string. Unset: they are stored plain. Keep it: without it sealed "
        "secrets cannot be read (docs/security.md says how to rotate it).",
    )
    secrets_old_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Former secrets keys: they still open what they sealed, and every start seals it "
        "again with secrets_key; drop them once a start has run.",
    )
    agent_tls_ca: Path | None = Field(
        None, description="CA of the agents' certificates (enables TLS to agents)."
    )
    agent_tls_cert: Path | None = Field(None, description="Client certificate for mTLS to agents.")
    agent_tls_key: Path | None = Field(None, description="Private key of the client certificate.")
    heartbeat_interval_s: float = Field(2.0, gt=0, description="How often agents are told to report.")
    agent_offline_after_s: float = Field(
        7.0,
        gt=0,
        description="An agent that has not reported for this long is offline (or for failover_after_s, "
        "if that is shorter: an agent declared down is offline).",
    )
    failover_after_s: float = Field(
        5.0,
        gt=0,
        description="An agent silent this long is declared down and its recordings go on on another agent "
        "of its site.",
    )
    failover_stable_s: float = Field(
        30.0, ge=0, description="A returning agent gets new sources only after it has been up this long."
    )
    failover_hold_lag_s: float = Field(
        2.0,
        gt=0,
        description="A replica whose own event loop stalled longer than this, or that took longer than "
        "this to answer a heartbeat, while it would judge agents declares none down: the silence may be "
        "its own (heartbeats waiting in its queue or for its database). With the "
        "defaults a stall must last about failover_after_s - heartbeat_interval_s (3 s) to fake a "
        "silence; this holds from 2 s.",
    )
    heartbeat_shed_queue_s: float = Field(
        0.5,
        gt=0,
        description="A replica whose requests wait longer than this before they are handled (its event "
        "loop late by as much: more work than CPU; or even its fastest heartbeats of the last second "
        "waited as long for the database) answers heartbeats that need the database 503 with "
        "Retry-After (overload_retry_after_s) instead of queueing them further; beats with nothing new "
        "are still answered. While it sheds, and for failover_after_s + heartbeat_interval_s after, no "
        "replica declares agents down (the replica's lateness is written to the database).",
    )
    failover_hold_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="When more than this share of the agents heard lately goes silent at once, failover "
        "holds (videorec_failover_held_total, alert VideorecFailoverHeld): the control plane or the "
        "network is the likelier cause, and moving everything would only load it further.",
    )
    failover_hold_min_agents: int = Field(
        4, ge=1, description="The share rule applies from this many agents heard lately (fewer: each counts)."
    )
    placement_settle_s: float = Field(
        3.0,
        ge=0,
        description="Sources wait to be placed while agents are joining, until none has come online for "
        "this long (at most ten times as long): the first agent of a fleet that starts together would "
        "otherwise take every camera. Placement runs in a loop of each replica, never in a heartbeat. "
        "0: place at once.",
    )
    failover_retry_s: float = Field(
        300.0,
        ge=0,
        description="A record that found no agent to continue on when its agent was declared down is tried "
        "again on every failover check for this long.",
    )
    grpc_timeout_s: float = Field(10.0, gt=0, description="Deadline of an ordinary gRPC call to an agent.")
    journal_sync_interval_s: float = Field(
        30.0,
        gt=0,
        description="Each online agent's journal is read this often (by one replica) for records the "
        "database does not hold, such as those recorded after the backup it was restored from; an agent "
        "that just came online is read within a few seconds.",
    )
    sync_agents: list[str] = Field(
        default_factory=list,
        description='Agents that may receive synced copies (agent://NAME/...), e.g. ["site-b"].',
    )
    sync_peers: dict[str, PeerConfig] = Field(
        default_factory=dict,
        description='Other deployments that may receive copies, by host[:port]: {"vr2.example:443": {"token": "..."}}.',
    )
    sync_buckets: dict[str, BucketSettings] = Field(
        default_factory=dict,
        description='S3 buckets that may receive copies: {"archive": {"endpoint_url": ..., "access_key_id": ..., '
        '"secret_access_key": ...}}.',
    )
    sync_lease_s: float = Field(
        15.0, gt=0, description="A sync job whose replica stops renewing it for this long is taken over."
    )
    sync_retries: int = Field(8, ge=0, description="Attempts per record before a sync job reports it failed.")
    sync_parallel_jobs: int = Field(
        3, ge=1, le=64, description="Sync jobs one replica runs at once; never two to one destination."
    )
    live_relay_interval_s: float = Field(
        0.2, gt=0, description="Frame interval asked of an agent for a watched source (viewers share it)."
    )
    media_redirect: bool = Field(
        False,
        description="GET /api/v1/record/{id}/video answers 307 to a URL signed for the agent's HTTP port "
        "(the agent sends the bytes) instead of proxying them; ?redirect=1 asks for it per request.",
    )
    media_url_ttl_s: float = Field(
        60.0, gt=0, le=86400, description="How long a signed URL to an agent's file stays valid."
    )
    log_level: str = Field("info", description="Log level of the control plane.")
    access_log_routine: bool = Field(
        False,
        description="Also log successful heartbeats, /healthz, /readyz and /metrics in the access log "
        "(one line per agent every few seconds); their failures are logged either way.",
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body accepted (413 beyond), /api/v1/import aside."
    )
    max_import_bytes: int = Field(
        64 * 1024**3, ge=1024, description="Largest record another deployment may send to /api/v1/import."
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names served without an API token besides loopback ones (localhost, 127.0.0.1, "
        "[::1]); a guard against DNS rebinding. With a token every Host is served.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Browser origins of a console served elsewhere, e.g. ["https://console.example"]: '
        "they get CORS headers and, without an API token, may write.",
    )
    camera_allow_local: bool = Field(
        False,
        description="Let camera URLs point at loopback and link-local addresses (this host's own "
        "services, cloud metadata). `make run` and the tests enable it for their local cameras.",
    )
    camera_networks_allow: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description='If set, camera URLs must resolve into these networks, e.g. ["10.20.0.0/16"].',
    )
    camera_networks_deny: list[IPvAnyNetwork] = Field(
        default_factory=list, description="Networks camera URLs may never point at (besides local ones)."
    )

    def offline_after_s(self) -> float:
        """How long an agent may be silent and still count as online: an agent silent long enough to
        be declared down (its recordings failed over) is offline too, whatever agent_offline_after_s
        says (with the defaults: 5 s, not 7)."""
        return min(self.agent_offline_after_s, self.failover_after_s)

    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL to connect to, with the driver the service ships with."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'videorec.db').resolve()}"
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url

    def migrates_on_start(self) -> bool:
        if self.migrate_on_start is not None:
            return self.migrate_on_start
        return self.resolved_database_url().startswith("sqlite")

    def agent_token_for(self, name: str, site: str | None = None) -> str | None:
        """The token agent `name` holds: its own when there is an agent key (naming `site` when its
        enrolment bound it to one: Agent.token_site), else the shared one."""
        if self.agents_key is not None:
            return token_for(self.agents_key.get_secret_value(), name, site)
        return self.agent_token.get_secret_value() if self.agent_token else None

    def agent_channel_credentials(self) -> grpc.ChannelCredentials | None:
        if self.agent_tls_ca is None:
            return None
        key = self.agent_tls_key.read_bytes() if self.agent_tls_key else None
        cert = self.agent_tls_cert.read_bytes() if self.agent_tls_cert else None
        return grpc.ssl_channel_credentials(self.agent_tls_ca.read_bytes(), key, cert)

    def listens_on_loopback(self) -> bool:
        return is_loopback(self.http_host)

    def authenticates(self) -> bool:
        """Requests must say who they are (a token, a user's key or an SSO token); otherwise the
        service is open to loopback and everyone is admin (docs/roles.md)."""
        return self.api_token is not None or self.oidc_issuer is not None

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
            raise ValueError("the OIDC issuer is an http(s) URL without query or fragment")
        if url.scheme == "http" and not is_loopback(url.hostname):
            raise ValueError("the OIDC issuer must be https (plain http only on loopback)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _issuer_needs_audience(self) -> Settings:
        if self.oidc_issuer is not None and not self.oidc_audience:
            raise ValueError(
                "oidc_audience is required with oidc_issuer: tokens the issuer made for other services must not pass"
            )
        return self
