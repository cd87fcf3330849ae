"""GET /api/v1/source as pollers read it: a strong ETag from the database's version of the sources
(bumped by triggers, whoever writes), 304 on If-None-Match, the cached body never stale (also across
two control planes on one PostgreSQL database), optional offset/limit within bounds, and the same
items as the single-source answer."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

from controlplane.app import create_app
from controlplane.db import utcnow
from shared.heartbeat import HEARTBEAT_PATH
from tests.conftest import make_settings
from videorec_testing.db import drop_all_tables
from videorec_testing.placement import wait_placed

TOKEN = "list-cache-test-token"
SOURCES = "/api/v1/source"


@contextlib.contextmanager
def control_plane(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    # Failover off: a silent agent here only makes its sources' status unknown.
    settings = make_settings(
        tmp_path, database_url, agent_token=TOKEN, agent_offline_after_s=60.0, failover_after_s=600.0
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    with control_plane(tmp_path, database_url) as client:
        yield client


@pytest.fixture
def pg(pg_url: str) -> Iterator[str]:
    """The session's PostgreSQL database, left empty for the next test."""
    try:
        yield pg_url
    finally:
        drop_all_tables(pg_url)


def sql(database_url: str, statement: str, **params: object) -> None:
    """A write behind the control plane's back, on its own connection (as another process would)."""
    url = make_url(database_url)
    if url.drivername.startswith("postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


def beat(client: TestClient, name: str, probes: list[dict] | None = None) -> set[int]:
    probed = [{"probed_unix": time.time(), **probe} for probe in probes or []]
    body = {"name": name, "address": "127.0.0.1:40001", "capacity": 8, "probes": probed}
    response = client.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return {s["id"] for s in response.json()["sources"]}


def create(client: TestClient, **fields: object) -> int:
    body = {"uri_rtsp": "rtsp://viewer:pw@10.0.0.5:554/stream1", **fields}
    response = client.post(SOURCES, json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def etag(client: TestClient, url: str = SOURCES) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.text
    tag = response.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/")  # strong
    return tag


def test_etag_is_stable_and_a_matching_if_none_match_is_a_304(api: TestClient) -> None:
    create(api)
    first = api.get(SOURCES)
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    assert etag(api) == tag
    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = api.get(SOURCES, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == tag
    stale = api.get(SOURCES, headers={"If-None-Match": '"not-the-current-one"'})
    assert stale.status_code == 200
    assert stale.json() == first.json()


def test_etag_changes_with_every_change_of_what_the_list_shows(api: TestClient, database_url: str) -> None:
    seen = [etag(api)]

    def changed() -> dict:
        tag = etag(api)
        assert tag != seen[-1], "the list changed but its ETag did not"
        answer = api.get(SOURCES, headers={"If-None-Match": seen[-1]})
        assert answer.status_code == 200  # the previous copy is no longer current
        seen.append(tag)
        return {item["id"]: item for item in answer.json()}

    source_id = create(api)
    assert source_id in changed()  # added
    assert api.put(f"{SOURCES}/{source_id}", json={"description": "north"}).status_code == 200
    assert changed()[source_id]["description"] == "north"  # edited
    assert wait_placed(api, source_id, lambda: beat(api, "a1")) == "a1"
    assert changed()[source_id]["agent"] == "a1"  # placed by the placement loop
    assert beat(api, "a1") == {source_id}
    beat(
        api, "a1", [{"source_id": source_id, "online": True, "detail": "RTSP DESCRIBE ok (528 bytes of SDP)"}]
    )
    assert changed()[source_id]["status"] == "online"  # probed
    # Still online, in other words (the SDP's length varies between DESCRIBEs): no news, still a 304.
    beat(
        api, "a1", [{"source_id": source_id, "online": True, "detail": "RTSP DESCRIBE ok (526 bytes of SDP)"}]
    )
    assert api.get(SOURCES, headers={"If-None-Match": seen[-1]}).status_code == 304
    beat(api, "a1", [{"source_id": source_id, "online": False, "detail": "no route"}])
    offline = changed()[source_id]
    assert offline["status"] == "offline"
    # The same answer on the next probes changes nothing: a poller keeps its 304 between beats,
    # and status_utc says since when the camera has been offline.
    beat(api, "a1", [{"source_id": source_id, "online": False, "detail": "no route"}])
    assert api.get(SOURCES, headers={"If-None-Match": seen[-1]}).status_code == 304
    assert api.get(f"{SOURCES}/{source_id}").json()["status_utc"] == offline["status_utc"]
    # The agent goes silent: no write marks that, the list must still not claim a probe it cannot make.
    sql(database_url, "UPDATE agent SET last_seen_utc = :t", t=utcnow() - timedelta(seconds=600))
    item = changed()[source_id]
    assert (item["status"], item["status_detail"]) == ("unknown", "agent a1 is offline")
    beat(api, "a1")
    assert changed()[source_id]["status"] == "offline"  # back: the last probe counts again
    assert seen[-1] == seen[-3]  # the same list as before the silence, so the same (strong) ETag
    # A write that no code of the control plane makes (an operator's SQL) is counted too: triggers.
    sql(database_url, "UPDATE source SET description = 'by hand' WHERE id = :id", id=source_id)
    assert changed()[source_id]["description"] == "by hand"
    assert api.delete(f"{SOURCES}/{source_id}").status_code == 200
    assert changed() == {}  # deleted
    assert etag(api) == seen[-1]  # and stable again


def test_list_items_are_the_single_source_answers(api: TestClient, database_url: str) -> None:
    """The list is serialised by its own code: it must show exactly what GET /source/{id} shows."""
    ids = [
        create(api, description="plain", uri_rtsp="rtsp://10.0.0.7/s"),
        create(
            api,
            uri_rtsp="rtsp://u:secret@10.0.0.8/s?token=t0ken",
            ffmpeg_cmd="ffmpeg -rtsp_transport tcp -i {input} -c copy {output}",
            site="A",
            failover=False,
        ),
        create(
            api,
            model="PictureSource",
            uri_rtsp=None,
            uri_http_picture={
                "uri": "http://10.0.0.9/snap.jpg",
                "auth": "digest",
                "user": "admin",
                "password": "pw!",
            },
        ),
    ]
    for probed in (ids[0], ids[2]):  # a probe counts from the source's own agent only
        wait_placed(api, probed, lambda: beat(api, "a1", []))
    beat(
        api,
        "a1",
        [{"source_id": ids[0], "online": True}, {"source_id": ids[2], "online": False, "detail": "401"}],
    )
    create(api, description="unplaced", site="nowhere")
    for silent in (False, True):
        if silent:
            sql(database_url, "UPDATE agent SET last_seen_utc = :t", t=utcnow() - timedelta(seconds=600))
        listed = api.get(SOURCES)
        assert "secret" not in listed.text and "t0ken" not in listed.text and "pw!" not in listed.text
        singles = [api.get(f"{SOURCES}/{item['id']}").json() for item in listed.json()]
        assert listed.json() == singles
        assert len(singles) == 4 and [s["status"] for s in singles][:3] == (
            ["unknown"] * 3 if silent else ["online", "unknown", "offline"]
        )


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=-1",
        "limit=10001",
        "limit=99999999999999999999",
        "offset=-1",
        "offset=2147483648",
        "limit=x",
    ],
)
def test_paging_out_of_bounds_is_a_422(api: TestClient, query: str) -> None:
    response = api.get(f"{SOURCES}?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "query"


def test_paging_keeps_the_plain_list_shape(api: TestClient) -> None:
    ids = [create(api, description=f"camera {i}") for i in range(5)]
    whole = api.get(SOURCES).json()
    assert [s["id"] for s in whole] == ids
    assert api.get(f"{SOURCES}?offset=1&limit=2").json() == whole[1:3]
    assert api.get(f"{SOURCES}?limit=3").json() == whole[:3]
    assert api.get(f"{SOURCES}?offset=4").json() == whole[4:]
    assert api.get(f"{SOURCES}?offset=5").json() == []
    assert api.get(f"{SOURCES}?offset=2147483647&limit=10000").json() == []
    # Each page has its own ETag, and a page's 304 holds only for that page.
    page = api.get(f"{SOURCES}?offset=1&limit=2")
    assert page.headers["etag"] != etag(api)
    assert (
        api.get(f"{SOURCES}?offset=1&limit=2", headers={"If-None-Match": page.headers["etag"]}).status_code
        == 304
    )
    assert (
        api.get(f"{SOURCES}?offset=0&limit=2", headers={"If-None-Match": page.headers["etag"]}).status_code
        == 200
    )


def test_triggers_dropped_by_a_migration_come_back_on_the_next_start(tmp_path: Path) -> None:
    """SQLite's batch migrations copy a table without its triggers: every upgrade reinstalls them."""
    url = f"sqlite:///{tmp_path / 'videorec.db'}"
    with control_plane(tmp_path, url) as api:
        create(api)
    for what in ("insert", "update", "delete"):
        sql(url, f'DROP TRIGGER "list_version_source_source_{what}"')
    with control_plane(tmp_path, url) as api:
        before = etag(api)
        create(api)
        assert etag(api) != before


@pytest.mark.postgres
def test_two_control_planes_on_one_database_never_answer_a_stale_304(tmp_path: Path, pg: str) -> None:
    with control_plane(tmp_path / "a", pg) as a, control_plane(tmp_path / "b", pg) as b:
        source_id = create(a)
        tag = etag(a)
        assert etag(b) == tag  # the same state has the same name on every replica
        assert b.get(SOURCES, headers={"If-None-Match": tag}).status_code == 304
        assert b.put(f"{SOURCES}/{source_id}", json={"description": "changed via b"}).status_code == 200
        # a had the old body cached under the old version: it must see the new one.
        answer = a.get(SOURCES, headers={"If-None-Match": tag})
        assert answer.status_code == 200
        assert answer.json()[0]["description"] == "changed via b"
        assert answer.headers["etag"] == etag(b) != tag
        create(a)
        assert b.get(SOURCES, headers={"If-None-Match": answer.headers["etag"]}).status_code == 200
        assert len(b.get(SOURCES).json()) == 2


@pytest.mark.postgres
def test_writers_of_different_sources_do_not_wait_on_the_version(tmp_path: Path, pg: str) -> None:
    """PostgreSQL bumps the version at COMMIT: a transaction holding one source's row and waiting for
    another's must not also hold the version's row, or two writers would deadlock on it."""
    with control_plane(tmp_path, pg) as api:
        first, second = create(api), create(api)
        before = etag(api)
    plain = make_url(pg).set(drivername="postgresql").render_as_string(hide_password=False)
    version = "SELECT n FROM list_version WHERE name = 'source'"
    with psycopg.connect(plain) as one, psycopg.connect(plain) as two:
        (n_before,) = one.execute(version).fetchone() or (None,)
        one.commit()
        for conn in (one, two):
            conn.execute("SET lock_timeout = '10s'")
        one.execute("UPDATE source SET description = 'one' WHERE id = %s", (first,))
        two.execute("UPDATE source SET description = 'two' WHERE id = %s", (second,))  # not blocked
        errors: list[BaseException] = []

        def one_takes_the_second_row() -> None:
            try:
                one.execute("UPDATE source SET site = 'x' WHERE id = %s", (second,))  # waits for two
                one.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        waiting = threading.Thread(target=one_takes_the_second_row)
        waiting.start()
        two.commit()
        waiting.join(30)
        assert not waiting.is_alive() and not errors, errors
        (n_after,) = one.execute(version).fetchone() or (None,)
    assert n_after == n_before + 2  # once per transaction, however many rows it wrote
    with control_plane(tmp_path, pg) as api:
        assert etag(api) != before
        listed = {s["id"]: (s["description"], s["site"]) for s in api.get(SOURCES).json()}
        assert (listed[first], listed[second]) == (("one", None), ("two", "x"))


def test_groups_tags_and_records_of_a_tag_page_the_same_way(api: TestClient) -> None:
    groups = [api.post("/api/v1/group", json={"name": f"g{i}"}).json() for i in range(3)]
    for i in range(3):
        assert api.post(f"/api/v1/group/{groups[0]['id']}/source/{create(api, description=f'c{i}')}").json()
    for tag in ("t1", "t2", "t3"):  # no agent: the records fail, the tags and records exist
        assert api.post("/api/v1/record", json={"tag_name": tag, "group_name": "g0"}).status_code == 200
    for url, params in (("/api/v1/group", {}), ("/api/v1/tags", {}), ("/api/v1/record", {"tag_name": "t1"})):
        whole = api.get(url, params=params).json()
        assert len(whole) == 3, url
        assert api.get(url, params={**params, "offset": 1, "limit": 1}).json() == whole[1:2], url
        assert api.get(url, params={**params, "offset": 2}).json() == whole[2:], url
        assert api.get(url, params={**params, "offset": 3}).json() == [], url
        for bad in ({"offset": -1}, {"offset": 2**31}, {"limit": 0}, {"limit": 10**6}):
            response = api.get(url, params={**params, **bad})
            assert response.status_code == 422, (url, bad)
            assert response.json()["detail"][0]["loc"] == ["query", next(iter(bad))]


def test_group_tag_and_record_lists_answer_304_until_they_change(api: TestClient, database_url: str) -> None:
    def current(url: str, params: dict, tag: str) -> bool:
        answer = api.get(url, params=params, headers={"If-None-Match": tag})
        assert answer.status_code in (200, 304), answer.text
        return answer.status_code == 304

    groups, tags, records, t1 = "/api/v1/group", "/api/v1/tags", "/api/v1/record", {"tag_name": "t1"}
    group_tag = etag(api, groups)
    assert current(groups, {}, group_tag)
    group = api.post(groups, json={"name": "hall"}).json()
    assert not current(groups, {}, group_tag)
    source_id = create(api)
    assert api.post(f"{groups}/{group['id']}/source/{source_id}").json() is True
    assert (
        api.post(records, json={"tag_name": "t1", "group_name": "hall"}).status_code == 200
    )  # fails: no agent
    tags_tag, records_tag = etag(api, tags), api.get(records, params=t1).headers["etag"]
    assert current(tags, {}, tags_tag) and current(records, t1, records_tag)
    assert api.put("/api/v1/tag", params={"name": "t1"}, json={"protected": True}).status_code == 200
    assert not current(tags, {}, tags_tag)
    sql(database_url, "UPDATE record SET error = 'by hand'")
    assert not current(records, t1, records_tag)
    records_tag = api.get(records, params=t1).headers["etag"]
    assert api.put(f"{SOURCES}/{source_id}", json={"description": "renamed"}).status_code == 200
    assert not current(records, t1, records_tag)  # a record shows its source
    (record,) = api.get(records, params=t1).json()
    assert (record["error"], record["source"]["description"]) == ("by hand", "renamed")
    assert api.get(records, params={"tag_name": "nope"}, headers={"If-None-Match": "*"}).status_code == 404


def test_a_database_made_again_does_not_reuse_the_old_ones_etags(tmp_path: Path) -> None:
    tags = []
    for run in ("old", "new"):
        with control_plane(tmp_path / run, f"sqlite:///{tmp_path / run / 'videorec.db'}") as api:
            create(api)
            tags.append(etag(api))
    assert tags[0] != tags[1]  # same writes, same list: still another database
