"""Three control-plane replicas on one PostgreSQL, real agents heartbeating to different replicas, and
a client that spreads its requests over them: the database referees every race."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shared.heartbeat import HEARTBEAT_PATH
from videorec_testing.cameras import RtspCamera
from videorec_testing.db import postgres_database
from videorec_testing.processes import AGENT_TOKEN, wait_agent_online
from videorec_testing.stack import Stack, start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.xdist_group("replicas")]
REPLICAS = 3


class Cluster:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.replicas = stack.replicas
        self._next = itertools.count()

    def client(self) -> httpx.Client:
        """A client of the next replica, as a round-robin load balancer would pick."""
        return self.replicas[next(self._next) % len(self.replicas)].client()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # The replicas start together (their schema upgrades race: the advisory lock must order them);
    # agent-1 reports to the first, agent-2 to the second.
    with (
        postgres_database() as url,
        start_stack(
            tmp_path_factory.mktemp("replicas"), agents=2, database_url=url, replicas=REPLICAS
        ) as stack,
    ):
        for agent in stack.agents:
            wait_agent_online(stack.replicas[2], agent.name)  # and a third replica sees them both
        yield Cluster(stack)


def _group(cluster: Cluster, name: str, camera: RtspCamera, count: int) -> None:
    with cluster.client() as c:
        group = c.post("/api/v1/group", json={"name": name}).json()
        for i in range(count):
            source = c.post(
                "/api/v1/source", json={"uri_rtsp": camera.url, "description": f"{name}-{i}"}
            ).json()
            assert c.post(f"/api/v1/group/{group['id']}/source/{source['id']}").json() is True


def test_one_tag_started_twenty_times_at_once_records_each_camera_once(cluster: Cluster, camera: RtspCamera):
    _group(cluster, "double-click", camera, 2)

    def start(_: int) -> int:
        with cluster.client() as c:
            return c.post(
                "/api/v1/record", json={"tag_name": "once", "group_name": "double-click"}
            ).status_code

    with ThreadPoolExecutor(20) as pool:
        codes = Counter(pool.map(start, range(20)))
    assert codes == {200: 1, 409: 19}, codes
    with cluster.client() as c:
        rows = c.get("/api/v1/record", params={"tag_name": "once"}).json()
        assert len(rows) == 2 and {r["status"] for r in rows} == {"recording"}, rows

    def has_video(record_id: str) -> bool:
        with cluster.client() as c:
            response = c.get(f"/api/v1/record/{record_id}/video/", headers={"Range": "bytes=0-99"})
            return response.status_code == 206

    for row in rows:
        wait_until(lambda row=row: has_video(row["id"]), 60, interval=0.2, what="video on disk")
    with cluster.client() as c:
        assert c.put("/api/v1/record", json={"tag_name": "once"}).status_code == 200
    with cluster.client() as c:
        rows = c.get("/api/v1/record", params={"tag_name": "once"}).json()
    assert {r["status"] for r in rows} == {"completed"}, [(r["status"], r["error"]) for r in rows]


def test_fifty_sources_created_at_once_are_each_placed_once_and_stay(cluster: Cluster, camera: RtspCamera):
    def create(i: int) -> int:
        with cluster.client() as c:
            response = c.post("/api/v1/source", json={"uri_rtsp": camera.url, "description": f"bulk-{i}"})
            assert response.status_code == 201, response.text
            return int(response.json()["id"])

    # Besides the two real agents, four more report at once to every replica, so that placements race;
    # what each is told back is what an agent would start watching.
    told: list[tuple[str, set[int]]] = []

    def beat(n: int) -> None:
        name = f"racer-{n % 4}"
        body = {"name": name, "address": f"127.0.0.1:{40000 + n % 4}", "capacity": 100}
        with cluster.client() as c:
            response = c.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {AGENT_TOKEN}"})
            assert response.status_code == 200, response.text
            told.append((name, {s["id"] for s in response.json()["sources"]}))

    with ThreadPoolExecutor(12) as pool:
        created = [pool.submit(create, i) for i in range(50)]
        beats = [pool.submit(beat, i) for i in range(60)]
        ids = {f.result() for f in created}
        for f in beats:
            f.result()

    def placements(c: httpx.Client) -> dict[int, str | None]:
        return {s["id"]: s["agent"] for s in c.get("/api/v1/source").json() if s["id"] in ids}

    def all_placed() -> dict[int, str | None] | None:
        with cluster.client() as c:
            seen = placements(c)
        return seen if len(seen) == 50 and all(seen.values()) else None

    first = wait_until(all_placed, 30, interval=0.2, what="every source placed")
    # No agent was ever told a source that the database gave to another one.
    for name, sources in told:
        wrong = {sid: first[sid] for sid in sources & ids if first[sid] != name}
        assert not wrong, f"{name} was told {wrong}"
    # Every replica reads the same placement, and later heartbeats (several per agent) move nothing.
    for cp in cluster.replicas:
        with cp.client() as c:
            wait_until(lambda c=c: placements(c) == first, 10, what="the same placement on every replica")
    # Spread, not all on one agent (which agents win depends on timing: the two real ones at least).
    assert len(set(first.values())) >= 2, Counter(first.values())


def test_reads_retried_on_another_replica_survive_one_being_killed(cluster: Cluster):
    victim = cluster.replicas[2]
    with victim.client() as c:
        before = c.get("/api/v1/source").json()
    cluster.stack.stop_cp(kill=True, replica=2)
    failures = 0
    for i in range(30):
        for attempt in range(REPLICAS):
            cp = cluster.replicas[(i + attempt) % REPLICAS]
            try:
                with cp.client(timeout=5) as c:
                    assert c.get("/api/v1/source").status_code == 200
                break
            except httpx.TransportError:
                failures += 1  # what a load balancer's retry absorbs
        else:
            raise AssertionError("no replica answered")
    assert failures >= 1  # the killed replica was really in the rotation
    restarted = cluster.stack.start_cp(replica=2)
    with restarted.client() as c:
        assert len(c.get("/api/v1/source").json()) >= len(before)
