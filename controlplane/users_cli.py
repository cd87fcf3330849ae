"""`videorec-controlplane user add NAME --role viewer|operator|admin` (prints the user's key, once),
`user remove NAME` (the key stops working on every replica at once), `user list`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from fastapi.exceptions import RequestValidationError

from controlplane import schema
from controlplane.auth.roles import Role
from controlplane.db import make_engine, make_sessionmaker, private_sqlite_file
from controlplane.errors import ServiceError
from controlplane.services import users
from controlplane.settings import Settings

REFUSED = 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="videorec-controlplane user", description="users and their API keys")
    sub = top.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a user and print their key (shown once: keep it)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    remove = sub.add_parser("remove", help="remove a user: their key stops working at once")
    remove.add_argument("name")
    sub.add_parser("list", help="users and their roles (never their keys)")
    return top


def run(settings: Settings, argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(_run(settings, args))
    except (ServiceError, RequestValidationError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else exc.errors()[0]["msg"]
        print(message, file=sys.stderr)
        return REFUSED
    except schema.SchemaOutOfDateError as exc:
        print(exc, file=sys.stderr)
        return REFUSED


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.resolved_database_url()
    private_sqlite_file(url)
    engine = make_engine(url)
    try:
        if settings.migrates_on_start():
            await schema.upgrade(engine)
        else:
            await schema.require_head(engine)
        async with make_sessionmaker(engine)() as session:
            if args.command == "add":
                key = await users.add(session, args.name, Role(args.role))
                await session.commit()
                if not settings.authenticates():
                    print(
                        "note: neither VIDEOREC_API_TOKEN nor VIDEOREC_OIDC_ISSUER is set: the service is open "
                        "to loopback and keys are not asked for until one is (docs/roles.md)",
                        file=sys.stderr,
                    )
                print(key)
            elif args.command == "remove":
                await users.remove(session, args.name)
                await session.commit()
                print(f"removed user {args.name}")
            else:
                for user in await users.list_all(session):
                    print(f"{user.name}\t{user.role.value}\t{user.created_utc.isoformat()}")
    finally:
        await engine.dispose()
    return 0
