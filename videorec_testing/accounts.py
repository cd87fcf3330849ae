"""Users for tests: made through the same service `videorec-controlplane user add` uses."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from controlplane import schema
from controlplane.auth.roles import Role
from controlplane.db import make_engine, make_sessionmaker
from controlplane.services import users
from controlplane.settings import Settings


async def _add(settings: Settings, names: dict[str, Role]) -> dict[str, str]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url())
    try:
        await schema.upgrade(engine)
        async with make_sessionmaker(engine)() as session:
            made = {name: await users.add(session, name, role) for name, role in names.items()}
            await session.commit()
        return made
    finally:
        await engine.dispose()


def add_users(settings: Settings, names: dict[str, Role]) -> dict[str, str]:
    """name → key, for the database of `settings` (migrated first)."""
    return asyncio.run(_add(settings, names))


def one_per_role(settings: Settings) -> dict[Role, str]:
    """A user named after each role; role → key."""
    keys = add_users(settings, {role.value: role for role in Role})
    return {role: keys[role.value] for role in Role}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def cli_user_add(data_dir: Path, name: str, role: str, database_url: str | None = None) -> str:
    """The key the real `videorec-controlplane user add` prints (its only line on stdout), in a process
    of its own (callers inside an event loop, such as Playwright's, cannot asyncio.run)."""
    env = {**os.environ, "VIDEOREC_DATA_DIR": str(data_dir)}
    if database_url:
        env["VIDEOREC_DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-m", "controlplane", "user", "add", name, "--role", role],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (key,) = done.stdout.split()
    assert key.startswith("vru1.") and key not in done.stderr
    return key
