"""Is this replica alive, and may a load balancer send it requests?"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from controlplane import schema

DB_CHECK_TIMEOUT_S = 2.0


async def readiness(engine: AsyncEngine) -> dict[str, str]:
    """Each failed check with its reason; empty when ready. Never includes the database URL."""
    problems: dict[str, str] = {}
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT_S):
            found = await schema.current(engine)  # a query of its own: it proves the database answers
    except Exception as exc:
        problems["database"] = f"unreachable: {type(exc).__name__}"
        return problems
    wanted = schema.head()
    if found != wanted:
        problems["schema"] = f"at {found or 'nothing'}, this code needs {wanted}"
    return problems
