"""A group start asks each agent once: one StartRecords call per agent with all its records, the
agents asked at the same time. Each agent answers when every record's ffmpeg has opened its camera
(or failed to), so a record reported `recording` by the answer has video coming.

Measured before (bench/group_start.py, 100 sources over 4 agents): one StartRecord call per record
cost little in itself, but each agent started its ffmpeg on its event loop (~50 ms a fork+exec on the
loaded 2-core machine), answering the later calls only after the earlier spawns."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from controlplane.agents.convert import source_spec
from controlplane.context import AppContext
from controlplane.errors import ServiceError
from controlplane.models import Agent, Record, Source
from shared.rpc import agent_pb2 as pb

# How long an agent may wait for its new ffmpeg runs to open their cameras before it answers: past
# the RTSP time-out of the default template (5 s), so a camera that hangs is an answer with a
# reason, and past what 100 ffmpeg need on a loaded 2-core machine (~9 s, bench/group_start.py), so
# that the answer is the cameras', not this bound's. The call's deadline adds the usual one.
START_WAIT_S = 20.0


async def start_on_agents(
    ctx: AppContext, tag_name: str, plans: Sequence[tuple[Record, Source, Agent]]
) -> list[pb.RecordState | BaseException]:
    """Start every planned record on its agent; the outcome of each, in the order of `plans` (an
    agent that cannot be reached is the error of each of its records)."""
    by_agent: dict[str, list[int]] = {}
    for index, (_, _, agent) in enumerate(plans):
        by_agent.setdefault(agent.name, []).append(index)

    async def one_agent(indexes: list[int]) -> list[pb.RecordState | ServiceError]:
        agent = plans[indexes[0]][2]
        client = ctx.agents.client(agent)
        entries = [(plans[i][0].id, tag_name, source_spec(plans[i][1])) for i in indexes]
        return await client.start_records(entries, START_WAIT_S)

    answers = await asyncio.gather(*(one_agent(ix) for ix in by_agent.values()), return_exceptions=True)
    outcomes: list[pb.RecordState | BaseException] = [Exception("not asked")] * len(plans)
    for indexes, answer in zip(by_agent.values(), answers, strict=True):
        for position, index in enumerate(indexes):
            outcomes[index] = answer if isinstance(answer, BaseException) else answer[position]
    return outcomes
