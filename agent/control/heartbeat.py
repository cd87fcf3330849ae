"""Reports the agent to the control plane every few seconds and takes back its assigned sources."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import httpx

from agent.cameras import dial
from agent.cameras.prober import Prober
from agent.cameras.spec import spec_from_assigned
from agent.recording.manager import RecordManager
from shared.heartbeat import HEARTBEAT_PATH, HeartbeatIn, HeartbeatOut, RecordReport

log = logging.getLogger(__name__)


class HeartbeatLoop:
    def __init__(
        self,
        client: httpx.AsyncClient,
        controlplane_url: str,
        token: str | None,
        interval_s: float,
        describe: Callable[[], HeartbeatIn],
        prober: Prober,
        records: RecordManager,
    ) -> None:
        self._client = client
        self._url = controlplane_url.rstrip("/") + HEARTBEAT_PATH
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._interval = interval_s
        self._describe = describe
        self._prober = prober
        self._records = records
        # Record changes newer than this have not been confirmed by the control plane yet.
        self._records_ack = 0.0
        self.connected = False
        # Tags retention must spare; None until the control plane has said (nothing is evicted before).
        self._protected: set[str] | None = None

    async def beat(self) -> HeartbeatOut:
        pending: list[RecordReport] = list(self._records.list(self._records_ack))
        body = self._describe().model_copy(update={"probes": self._prober.results(), "records": pending})
        response = await self._client.post(
            self._url,
            content=body.model_dump_json(),
            headers={**self._headers, "Content-Type": "application/json"},
        )
        response.raise_for_status()
        answer = HeartbeatOut.model_validate_json(response.content)
        self._prober.assign([spec_from_assigned(s) for s in answer.sources])
        self._records_ack = max(self._records_ack, answer.records_ack_unix)
        self._protected = set(answer.protected_tags)
        if answer.camera_networks is not None:
            dial.use(answer.camera_networks)
        for record_id in answer.stop_records:
            # A stop the control plane could not deliver while this agent was unreachable.
            asyncio.create_task(self._stop(record_id))  # noqa: RUF006 - fire and forget, errors logged
        return answer

    async def _stop(self, record_id: str) -> None:
        try:
            await self._records.stop(record_id, wait=True)
        except Exception:
            log.exception("stopping record %s on the control plane's request failed", record_id)

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                answer = await self.beat()
                if not self.connected:
                    log.info("connected to the control plane at %s", self._url)
                self.connected, failures = True, 0
                delay = answer.interval_s
            except (httpx.HTTPError, ValueError) as exc:
                failures += 1
                if self.connected or failures == 1:
                    log.warning("heartbeat to %s failed: %s", self._url, exc)
                self.connected = False
                # Back off while the control plane is away, with jitter so agents do not beat in step.
                delay = min(self._interval * 2 ** min(failures - 1, 4), 5.0)
            await self._retention()
            await asyncio.sleep(delay * random.uniform(0.9, 1.1))  # noqa: S311 - jitter, not crypto

    async def _retention(self) -> None:
        """Once per beat, with the protected tags last heard (also while the control plane is away:
        the disk fills all the same)."""
        if self._protected is None:
            return
        try:
            await self._records.enforce_retention(self._protected)
        except Exception:
            log.exception("retention failed")
