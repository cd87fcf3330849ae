"""Retention on its own timer (`retention_interval_s`): how often the agent evicts is its own setting,
not the control plane's heartbeat interval, and it goes on while the control plane is away (the disk
fills all the same), with the protected tags last heard."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class Evicts(Protocol):
    async def enforce_retention(self, protected_tags: set[str]) -> object: ...


class RetentionLoop:
    def __init__(self, records: Evicts, protected: Callable[[], set[str] | None], interval_s: float) -> None:
        self._records = records
        self._protected = protected  # None until the control plane has said: nothing is evicted before
        self._interval = interval_s
        self.passes = 0

    async def run(self) -> None:
        while True:
            await self.once()
            await asyncio.sleep(self._interval)

    async def once(self) -> None:
        protected = self._protected()
        if protected is None:
            return
        try:
            await self._records.enforce_retention(protected)
            self.passes += 1
        except Exception:
            log.exception("retention failed")
