"""`python -m controlplane` / `videorec-controlplane`: serve the REST API (no local agent);
`videorec-controlplane migrate`: upgrade the database schema to this code's head and exit;
`videorec-controlplane enrol-agent NAME [--site SITE]`: print the token agent NAME must hold (needs the
agent key); with --site the token binds the agent to that site;
`videorec-controlplane backup PATH` / `restore PATH`: the embedded database and its keys (controlplane/backup.py);
`videorec-controlplane user add NAME --role ROLE | remove NAME | list`: users and their keys (users_cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

from controlplane import backup, schema, users_cli
from controlplane.agent_identity import token_for
from controlplane.db import make_engine, private_sqlite_file
from controlplane.local_keys import with_local_keys
from controlplane.serving import check_exposure, configure_logging, serve
from controlplane.settings import Settings


async def migrate(settings: Settings) -> None:
    private_sqlite_file(settings.resolved_database_url())
    engine = make_engine(settings.resolved_database_url())
    try:
        await schema.upgrade(engine)
    finally:
        await engine.dispose()


def enrol_agent(settings: Settings, name: str, site: str | None = None) -> int:
    """The token goes to stdout only, for the admin to put in that agent's VIDEOREC_AGENT_TOKEN."""
    if settings.agents_key is None:
        print(
            "VIDEOREC_AGENTS_KEY is not set: per-agent tokens are derived from it (the embedded database "
            "keeps one in its data folder; with PostgreSQL give every replica the same key)",
            file=sys.stderr,
        )
        return 2
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", name):
        print("an agent name is 1-128 of A-Z a-z 0-9 . _ -", file=sys.stderr)
        return 2
    if site is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", site):
        print("a site is 1-128 of A-Z a-z 0-9 . _ -", file=sys.stderr)
        return 2
    if site is None:
        print(
            "no --site: the agent stays on the site it first reports (see docs/security.md)", file=sys.stderr
        )
    print(token_for(settings.agents_key.get_secret_value(), name, site))
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] in ("backup", "restore"):
        # Before with_local_keys, which would make new keys where a restore brings the old ones.
        return backup.run(sys.argv[1], Settings(), Path(sys.argv[2]))
    settings = with_local_keys(Settings())
    configure_logging(settings)
    if sys.argv[1:] == ["migrate"]:
        asyncio.run(migrate(settings))
        print(f"database schema at {schema.head()}")
        return 0
    if sys.argv[1:2] == ["enrol-agent"]:
        parser = argparse.ArgumentParser(prog="videorec-controlplane enrol-agent")
        parser.add_argument("name")
        parser.add_argument(
            "--site", help="the site the agent is bound to (its heartbeats may name no other)"
        )
        args = parser.parse_args(sys.argv[2:])
        return enrol_agent(settings, args.name, args.site)
    if sys.argv[1:2] == ["user"]:
        return users_cli.run(settings, sys.argv[2:])
    if sys.argv[1:]:
        print(
            "usage: videorec-controlplane [migrate | enrol-agent NAME [--site SITE] | backup PATH | restore PATH | "
            "user add NAME --role viewer|operator|admin | user remove NAME | user list]",
            file=sys.stderr,
        )
        return 2
    if not check_exposure(settings):
        return 2
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
