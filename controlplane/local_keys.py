"""The keys of a deployment on the embedded database, kept in its data folder: the agents key and
the secrets key.

An agent's token is derived from the agents key (controlplane.agent_identity), so the key must outlive a
restart of the control plane, or every enrolled agent would be refused after it. With SQLite the data
folder is the deployment (one control plane owns it), so the key lives there beside the database:
made once, readable by this user alone, read by `serve`, `make run` and `enrol-agent` alike. On
PostgreSQL several replicas share the database, not a folder: there the key is VIDEOREC_AGENTS_KEY,
the same for every replica, and nothing is made here.

The secrets key seals camera passwords in the database (controlplane/sealed.py). Beside the database
it keeps them out of a copy of the database file alone (an export, a stray backup of videorec.db);
`videorec-controlplane backup` takes both. On PostgreSQL it is VIDEOREC_SECRETS_KEY.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from controlplane.settings import Settings

log = logging.getLogger(__name__)

KEY_FILE = "agents.key"
SECRETS_KEY_FILE = "secrets.key"


def key_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def embedded(settings: Settings) -> bool:
    return settings.resolved_database_url().startswith("sqlite")


def with_local_keys(settings: Settings) -> Settings:
    """`settings` with the data folder's agents key and secrets key, where nothing else is set."""
    with_agents_key(settings)
    if settings.secrets_key is None and embedded(settings):
        settings.secrets_key = SecretStr(read_or_make(settings.data_dir / SECRETS_KEY_FILE))
    return settings


def with_agents_key(settings: Settings) -> Settings:
    """`settings` with the data folder's agents key, made on first use, where nothing else is set.

    Left as they are: an agents key given in the environment (the admin's), a shared agent token
    given without one (the admin chose one secret for all agents), or a database that is not the
    embedded one."""
    if settings.agents_key is not None or settings.agent_token is not None or not embedded(settings):
        return settings
    settings.agents_key = SecretStr(read_or_make(key_path(settings)))
    return settings


def read_or_make(path: Path) -> str:
    """The key in `path`, or a new one written there; a second process racing this one reads the
    first one's key (the file appears whole: written under another name, then linked)."""
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs holds
            os.link(tmp, path)
            log.info("made the key %s (keep it with the database: see backup)", path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # copied in by hand with a looser mode: it is a secret
    key = path.read_text().strip()
    if len(key) < 32:
        raise SystemExit(f"{path} holds no agents key: remove it to make a new one (agents must enrol again)")
    return key
