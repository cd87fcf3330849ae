"""The console in a real Chromium against a real control plane, agent and RTSP camera: sources and a
group made through the forms, a tag started and stopped, and its playback kept in sync."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.cameras import RtspCamera, start_rtsp_camera
from tests.support.processes import (
    AgentProc,
    ControlPlane,
    start_agent,
    start_controlplane,
    wait_agent_online,
    wait_until,
)

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
SYNC_TOLERANCE_S = 0.5
RECORD_FOR_S = 8.0
SCREENSHOTS = Path(os.environ.get("VIDEOREC_SCREENSHOTS", Path(__file__).resolve().parents[2] / "tmp" / "console"))

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("console"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="apt-get install chromium"),
]


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    with start_rtsp_camera() as cam:
        yield cam


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, AgentProc]]:
    tmp = tmp_path_factory.mktemp("console")
    cp = start_controlplane(tmp)
    agent = start_agent(tmp, cp)
    try:
        wait_agent_online(cp, agent.name)
        yield cp, agent
    finally:
        agent.stop()
        cp.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def create_source(page, description: str, uri: str) -> None:
    form = page.locator("#source-form")
    form.locator("input[name=description]").fill(description)
    form.locator("input[name=uri_rtsp]").fill(uri)
    form.get_by_role("button", name="Create").click()


def wall_of(record: dict, media_s: float) -> float:
    """The wall time (epoch seconds) of a position in a record's file, from the API's own fields."""
    wall = datetime.fromisoformat(record["begin_utc"]).timestamp() + media_s
    for gap in record["gaps"]:
        start = datetime.fromisoformat(gap["start_utc"]).timestamp()
        if wall < start:
            break
        wall += datetime.fromisoformat(gap["end_utc"]).timestamp() - start
    return wall


def tile_walls(page, records: dict[str, dict]) -> tuple[list[float], float]:
    """Every tile's wall time, read from its <video> at one instant, and the console's clock."""
    state = page.evaluate(
        """() => ({clock: Number(document.getElementById('wall-clock').dataset.wallMs),
                   videos: [...document.querySelectorAll('.ptile video')].map(v => [v.dataset.recordId, v.currentTime])})"""
    )
    return [wall_of(records[rid], t) for rid, t in state["videos"]], state["clock"] / 1000


def settled(page) -> bool:
    return page.evaluate(
        """() => [...document.querySelectorAll('.ptile video')].every(v => !v.seeking && v.readyState >= 3 && !v.paused)"""
    )


def test_operator_makes_a_group_records_a_tag_and_plays_it_back_in_sync(stack, camera, browser) -> None:
    cp, _agent = stack
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    started = time.monotonic()
    page.goto(cp.url + "/")
    page.get_by_role("heading", name="Agents").wait_for()
    print(f"overview loaded in {time.monotonic() - started:.2f} s")
    page.locator("td", has_text="agent-1").first.wait_for()
    assert page.locator(".badge.s-online").first.is_visible()

    # Sources through the form: the API's 422 is shown next to the field it is about.
    page.get_by_role("link", name="Sources").click()
    create_source(page, "cam A", "http://not-a-camera/stream")
    error = page.locator('[data-error-for="uri_rtsp"]')
    error.filter(has_text="rtsp://").wait_for()
    assert "rtsp://" in error.inner_text()
    create_source(page, "cam A", camera.url)
    page.locator("td", has_text="cam A").wait_for()
    assert error.inner_text() == ""
    create_source(page, "cam B", camera.url)
    page.locator("td", has_text="cam B").wait_for()

    # A group through the form, both cameras added to it.
    page.get_by_role("link", name="Groups").click()
    page.locator("#group-form input[name=name]").fill("north-gate")
    page.locator("#group-form").get_by_role("button", name="Create").click()
    page.get_by_role("heading", name="north-gate").wait_for()
    for _ in range(2):
        page.locator("#member-form").get_by_role("button", name="Add").click()
        page.wait_for_function("n => document.querySelectorAll('.card tbody tr').length >= n", arg=_ + 1)
    shot(page, "group")

    # Start the tag from the group page, let it record, stop it from the tag page.
    page.locator("#record-form input[name=tag_name]").fill("match-ui")
    page.locator("#record-form").get_by_role("button", name="Start recording").click()
    page.locator("#stop-tag").wait_for()
    with cp.client() as c:
        wait_until(
            lambda: all(r["status"] == "recording" for r in c.get("/api/v1/record", params={"tag_name": "match-ui"}).json()),
            30,
            what="records recording",
        )
        recording_since = time.monotonic()
        page.goto(cp.url + "/#/")
        page.locator("a", has_text="match-ui").first.wait_for()
        shot(page, "overview")
        time.sleep(max(0.0, RECORD_FOR_S - (time.monotonic() - recording_since)))  # the recording's length
        page.goto(cp.url + "/#/tags/match-ui")
        page.locator("#stop-tag").click()
        page.locator("#stop-tag").wait_for(state="detached", timeout=30000)
        rows = c.get("/api/v1/record", params={"tag_name": "match-ui"}).json()
    assert [r["status"] for r in rows] == ["completed", "completed"], rows
    page.locator(".badge.s-completed").first.wait_for()
    shot(page, "tag")
    records = {r["id"]: r for r in rows}

    # Playback: both cameras, one clock.
    page.get_by_role("link", name="Play back").click()
    page.wait_for_function("() => [...document.querySelectorAll('.ptile video')].every(v => v.readyState >= 2)")
    assert page.locator(".ptile").count() == 2
    page.get_by_role("button", name="play").click()
    page.wait_for_function("() => document.getElementById('sync-status').textContent.startsWith('in sync')")

    begin = min(datetime.fromisoformat(r["begin_utc"]).timestamp() for r in rows)
    end = max(datetime.fromisoformat(r["end_utc"]).timestamp() for r in rows)
    spreads = []
    rows_box = page.locator(".tl-rows").bounding_box()
    for fraction in (0.6, 0.25):
        page.mouse.click(rows_box["x"] + rows_box["width"] * fraction, rows_box["y"] + 5)
        wait_until(lambda: settled(page), 10, what="tiles playing after the seek")
        walls, clock = tile_walls(page, records)
        spreads.append(max(walls) - min(walls))
        assert max(walls) - min(walls) <= SYNC_TOLERANCE_S, walls
        assert all(abs(w - clock) <= SYNC_TOLERANCE_S for w in walls), (walls, clock)
        assert begin <= clock <= end
    first, _ = tile_walls(page, records)
    wait_until(lambda: tile_walls(page, records)[0][0] > first[0] + 2, 10, what="two seconds of play")
    walls, _ = tile_walls(page, records)
    spreads.append(max(walls) - min(walls))
    assert max(walls) - min(walls) <= SYNC_TOLERANCE_S, walls
    print(f"spread of the tiles' wall times: {[round(s * 1000) for s in spreads]} ms (median {statistics.median(spreads) * 1000:.0f})")
    shot(page, "playback")

    page.get_by_role("button", name="pause").click()
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "playback-phone")
    assert errors == []
