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
FPS = 25  # one frame is 40 ms, the bound for "the same picture"
RECORD_FOR_S = 8.0

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("console"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="apt-get install chromium"),
]


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    # One shared encoder and a moving ball: every frame differs from the next, and two recordings of
    # the camera hold identical frames, so pictures compared by pixels tell the true offset.
    with start_rtsp_camera(fps=FPS, pattern="ball") as cam:
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
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kept as the test's artifacts: VIDEOREC_SCREENSHOTS, or a folder beside the test's other files."""
    folder = os.environ.get("VIDEOREC_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("console-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def create_source(page, description: str, uri: str) -> None:
    form = page.locator("#source-form")
    form.locator("input[name=description]").fill(description)
    form.locator("input[name=uri_rtsp]").fill(uri)
    form.get_by_role("button", name="Create").click()


def wall_of(record: dict, media_s: float) -> float:
    """The wall time (epoch seconds) of a position in a record's file: the file ends at the stop and
    holds the record's span minus its gaps."""
    gaps = [
        (datetime.fromisoformat(g["start_utc"]).timestamp(), datetime.fromisoformat(g["end_utc"]).timestamp())
        for g in record["gaps"]
    ]
    end = datetime.fromisoformat(record["end_utc"]).timestamp()
    wall = end - record["duration_s"] - sum(e - s for s, e in gaps) + media_s
    for start, stop in gaps:
        if wall < start:
            break
        wall += stop - start
    return wall


# Decodes a second copy of each file off screen (the tiles stay under the console's control) and
# finds how many frames the second camera's picture is from the first one's.
FRAME_OFFSET_JS = """async ([fps, reach]) => {
  const tiles = [...document.querySelectorAll('.ptile video')];
  const load = (src) => new Promise((ok, bad) => {
    const v = document.createElement('video');
    v.muted = true; v.preload = 'auto'; v.src = src;
    v.addEventListener('loadeddata', () => ok(v), {once: true});
    v.addEventListener('error', bad, {once: true});
  });
  const seek = (v, t) => new Promise((ok) => { v.addEventListener('seeked', ok, {once: true}); v.currentTime = t; });
  const pixels = (v) => {
    const c = document.createElement('canvas'); c.width = 160; c.height = 90;
    const g = c.getContext('2d'); g.drawImage(v, 0, 0, 160, 90);
    return g.getImageData(0, 0, 160, 90).data;
  };
  const diff = (a, b) => { let s = 0; for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]); return s / a.length; };
  const [a, b] = await Promise.all([load(tiles[0].src), load(tiles[1].src)]);
  await seek(a, tiles[0].currentTime);
  const ref = pixels(a);
  let best = null;
  for (let d = -reach; d <= reach; d++) {
    await seek(b, Math.max(0, tiles[1].currentTime + d / fps));
    const x = diff(ref, pixels(b));
    if (best === null || x < best.diff) best = {frames: d, diff: x};
  }
  return best;
}"""


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


def test_operator_makes_a_group_records_a_tag_and_plays_it_back_in_sync(
    stack, camera, browser, screenshots: Path
) -> None:
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
    shot(page, screenshots, "group")

    # Start the tag from the group page, let it record, stop it from the tag page.
    page.locator("#record-form input[name=tag_name]").fill("match-ui")
    page.locator("#record-form").get_by_role("button", name="Start recording").click()
    page.locator("#stop-tag").wait_for()
    with cp.client() as c:
        wait_until(
            lambda: all(
                r["status"] == "recording"
                for r in c.get("/api/v1/record", params={"tag_name": "match-ui"}).json()
            ),
            30,
            what="records recording",
        )
        recording_since = time.monotonic()
        page.goto(cp.url + "/#/")
        page.locator("a", has_text="match-ui").first.wait_for()
        shot(page, screenshots, "overview")
        time.sleep(max(0.0, RECORD_FOR_S - (time.monotonic() - recording_since)))  # the recording's length
        page.goto(cp.url + "/#/tags/match-ui")
        page.locator("#stop-tag").click()
        page.locator("#stop-tag").wait_for(state="detached", timeout=30000)
        rows = c.get("/api/v1/record", params={"tag_name": "match-ui"}).json()
    assert [r["status"] for r in rows] == ["completed", "completed"], rows
    page.locator(".badge.s-completed").first.wait_for()
    shot(page, screenshots, "tag")
    records = {r["id"]: r for r in rows}

    # Playback: both cameras, one clock.
    page.get_by_role("link", name="Play back").click()
    page.wait_for_function(
        "() => { const v = [...document.querySelectorAll('.ptile video')]; return v.length === 2 && v.every(v => v.readyState >= 2); }"
    )
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
    print(
        f"spread of the tiles' wall times: {[round(s * 1000) for s in spreads]} ms (median {statistics.median(spreads) * 1000:.0f})"
    )
    shot(page, screenshots, "playback")

    # The true offset, by the pictures: paused, after a seek, the same frame on both tiles (±1).
    page.get_by_role("button", name="pause").click()
    page.mouse.click(rows_box["x"] + rows_box["width"] * 0.5, rows_box["y"] + 5)
    wait_until(
        lambda: page.evaluate(
            "() => [...document.querySelectorAll('.ptile video')].every(v => v.paused && !v.seeking && v.readyState >= 2)"
        ),
        10,
        what="tiles paused after the seek",
    )
    offset = page.evaluate(FRAME_OFFSET_JS, [FPS, 25])
    print(
        f"picture offset between the two tiles: {offset['frames']} frames (pixel difference {offset['diff']:.2f})"
    )
    assert offset["diff"] < 1.0, offset  # the same frame was found
    assert abs(offset["frames"]) <= 1, offset

    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, screenshots, "playback-phone")
    assert errors == []
