"""Reports the agent to the control plane every few seconds and takes back its assigned sources and
the tags retention must spare (retention itself runs on its own timer: agent.control.retention)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import httpx

from agent.cameras import dial
from agent.cameras.prober import Prober
from agent.cameras.spec import spec_from_assigned
from agent.control.record_pages import next_page
from agent.recording.manager import RecordManager
from shared.heartbeat import HEARTBEAT_PATH, AssignedSource, HeartbeatIn, HeartbeatOut

log = logging.getLogger(__name__)

_ALL_PROBES_EVERY = 30  # beats
_BACKLOG_DELAY_S = 0.05


class HeartbeatLoop:
    def __init__(
        self,
        client: httpx.AsyncClient,
        controlplane_url: str,
        token: str | None,
        retry_s: float,
        retry_max_s: float,
        describe: Callable[[], HeartbeatIn],
        prober: Prober,
        records: RecordManager,
    ) -> None:
        self._client = client
        self._url = controlplane_url.rstrip("/") + HEARTBEAT_PATH
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._retry_s = retry_s
        self._retry_max_s = retry_max_s
        self._describe = describe
        self._prober = prober
        self._records = records
        # Record changes newer than this have not been confirmed by the control plane yet.
        self._records_ack = 0.0
        self.connected = False
        # Tags retention must spare; None until the control plane has said (nothing is evicted before).
        self.protected: set[str] | None = None
        # The assignment whose sources the prober holds; the control plane then says only what changed.
        self._assignment: str | None = None
        self._held: dict[int, AssignedSource] = {}  # the sources as of that assignment
        self._told: dict[int, tuple[bool, str]] = {}  # each probe's state as last acknowledged
        self._beats = 0
        self.more_records = False  # the last beat left record changes for the next one

    async def beat(self) -> HeartbeatOut:
        pending, self.more_records = next_page(self._records.list(self._records_ack))
        probes = self._prober.results()
        # Probes whose state changed since the control plane last took them, and all of them once a
        # minute or so (a database restored from a backup forgets what it was told).
        whole = self._beats % _ALL_PROBES_EVERY == 0 or self._assignment is None
        news = [p for p in probes if whole or self._told.get(p.source_id) != (p.online, p.detail)]
        held = list(self._held) if self._assignment is not None else None
        body = self._describe().model_copy(
            update={"probes": news, "records": pending, "assignment": self._assignment, "held": held}
        )
        response = await self._client.post(
            self._url,
            content=body.model_dump_json(),
            headers={**self._headers, "Content-Type": "application/json"},
        )
        response.raise_for_status()
        answer = HeartbeatOut.model_validate_json(response.content)
        self._beats += 1
        self._told.update({p.source_id: (p.online, p.detail) for p in news})
        if answer.sources is not None or answer.changed is not None:  # neither: nothing changed
            self._take(answer)
        self._records_ack = max(self._records_ack, answer.records_ack_unix)
        if answer.protected_tags is not None:
            self.protected = set(answer.protected_tags)
        if answer.camera_networks is not None:
            dial.use(answer.camera_networks)
        for record_id in answer.stop_records:
            # A stop the control plane could not deliver while this agent was unreachable.
            asyncio.create_task(self._stop(record_id))  # noqa: RUF006 - fire and forget, errors logged
        return answer

    def _take(self, answer: HeartbeatOut) -> None:
        """The new assignment: the whole list, or what changed in the one held."""
        if answer.sources is not None:
            self._held = {s.id: s for s in answer.sources}
        else:
            for gone in answer.removed:
                self._held.pop(gone, None)
            self._held.update({s.id: s for s in answer.changed or []})
        self._prober.assign([spec_from_assigned(s) for s in self._held.values()])
        self._told = {sid: state for sid, state in self._told.items() if sid in self._held}
        self._assignment = answer.assignment

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
                # A backlog of record changes (a long journal after a restart) goes on at once.
                if self.more_records:
                    delay = _BACKLOG_DELAY_S
                else:
                    delay = answer.interval_s * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not crypto
            except (httpx.HTTPError, ValueError) as exc:
                failures += 1
                if self.connected or failures == 1:
                    log.warning("heartbeat to %s failed: %s", self._url, exc)
                self.connected = False
                delay = next_retry(failures, exc, self._retry_s, self._retry_max_s)
            await asyncio.sleep(delay)


def next_retry(failures: int, exc: Exception, base_s: float, max_s: float) -> float:
    """The pause after `failures` failed beats in a row, with jitter so that agents refused together
    do not come back together. An overloaded control plane's Retry-After is waited out in full and
    spread over half as long again (never sooner than asked: every agent asked at once would be back
    at once); any other failure backs off from `base_s`, doubling up to `max_s`."""
    asked = retry_after(exc)
    if asked > 0:
        return asked * random.uniform(1.0, 1.5)  # noqa: S311 - jitter, not crypto
    return min(base_s * 2 ** min(failures - 1, 10), max_s) * random.uniform(0.9, 1.1)  # noqa: S311


def retry_after(exc: Exception) -> float:
    """What an overloaded control plane asked for (503 with Retry-After in seconds), at most a minute;
    0 for any other failure."""
    if not isinstance(exc, httpx.HTTPStatusError) or exc.response.status_code != 503:
        return 0.0
    try:
        return min(max(float(exc.response.headers.get("Retry-After", "0")), 0.0), 60.0)
    except ValueError:  # an HTTP date: not sent by this control plane
        return 0.0
