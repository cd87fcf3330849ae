"""How fast a control plane whose database lost its records gets them back from an agent's journal.

    .venv/bin/python bench/journal_recovery.py [--records 5000] [--postgres URL]

An agent's journal is filled with N completed records (50 tags, 10 sources; rows as the agent writes
them, credentials sealed with its token's key) before the agent starts; a control plane with an empty
database (SQLite, or a PostgreSQL database given) then puts them back through its journal sync
(ListJournal pages of 500, insert-if-absent, tags and sources made again). Measured: the agent online
→ all N records in the database, and, as the baseline in the same run, the ListJournal pages alone
(the same gRPC reads, straight from this process, no database).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import sqlite3
import time

import grpc
import psycopg

from bench.common import AGENT_NAME, markdown_table, workspace
from controlplane.agents.client import AgentClient
from videorec_testing.processes import AGENT_TOKEN
from videorec_testing.records import fill_journal
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until


def count_records(database_url: str | None, data: Path) -> int:
    if database_url is None:
        with sqlite3.connect(data / "videorec.db") as db:
            return int(db.execute("SELECT count(*) FROM record").fetchone()[0])
    with psycopg.connect(database_url) as db:
        row = db.execute("SELECT count(*) FROM record").fetchone()
        return int(row[0]) if row else 0


async def list_alone(address: str, n: int) -> float:
    channel = grpc.aio.insecure_channel(address)
    client = AgentClient(AGENT_NAME, channel, AGENT_TOKEN, 30.0)
    started, seen, since, after = time.perf_counter(), 0, 0.0, ""
    try:
        while True:
            page = await client.list_journal(since, after, 500)
            seen += len(page.records)
            if page.records:
                since, after = page.records[-1].state.updated_unix, page.records[-1].state.record_id
            if not page.more:
                break
    finally:
        await channel.close()
    assert seen == n, (seen, n)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--postgres", help="an empty PostgreSQL database to use instead of SQLite")
    args = parser.parse_args()
    with workspace() as (tmp, stop):
        fill_journal(tmp / f"storage-{AGENT_NAME}", args.records)
        stack = stop.enter_context(start_stack(tmp, agents=[AGENT_NAME], database_url=args.postgres))
        online = time.perf_counter()
        wait_until(
            lambda: count_records(args.postgres, tmp / "cp-data") >= args.records,
            600,
            interval=0.1,
            what="the records back",
        )
        recovered = time.perf_counter() - online
        alone = asyncio.run(list_alone(stack.agent.address(), args.records))
    database = "PostgreSQL" if args.postgres else "SQLite"
    print(
        markdown_table(
            ["what", "records", "seconds", "records/s"],
            [
                [
                    f"agent online → all in the database ({database})",
                    args.records,
                    f"{recovered:.2f}",
                    f"{args.records / recovered:.0f}",
                ],
                [
                    "ListJournal pages alone (baseline)",
                    args.records,
                    f"{alone:.2f}",
                    f"{args.records / alone:.0f}",
                ],
            ],
        )
    )


if __name__ == "__main__":
    main()
