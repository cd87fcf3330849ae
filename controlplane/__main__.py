"""`python -m controlplane` / `videorec-controlplane`: serve the REST API (no local agent);
`videorec-controlplane migrate`: upgrade the database schema to this code's head and exit."""

from __future__ import annotations

import asyncio
import sys

from controlplane import schema
from controlplane.db import make_engine
from controlplane.serving import check_exposure, configure_logging, serve
from controlplane.settings import Settings


async def migrate(settings: Settings) -> None:
    if settings.resolved_database_url().startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url())
    try:
        await schema.upgrade(engine)
    finally:
        await engine.dispose()


def main() -> int:
    settings = Settings()
    configure_logging(settings)
    if sys.argv[1:] == ["migrate"]:
        asyncio.run(migrate(settings))
        print(f"database schema at {schema.head()}")
        return 0
    if sys.argv[1:]:
        print("usage: videorec-controlplane [migrate]", file=sys.stderr)
        return 2
    if not check_exposure(settings):
        return 2
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
