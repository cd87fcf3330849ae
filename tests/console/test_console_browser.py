"""The console in a real Chromium against a real control plane, agent and RTSP camera: sources and a
group made through the forms, a tag started and stopped, and its playback kept in sync."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.console.conftest import needs_chromium
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.processes import AgentProc, ControlPlane
from videorec_testing.records import wait_video_s
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until

SYNC_TOLERANCE_S = 0.5
FPS = 25  # one frame is 40 ms, the bound for "the same picture"
GAP_S = 2.5

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("console"),
    needs_chromium,
]


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    # One shared encoder and a moving ball: every frame differs from the next, and two recordings of
    # the camera hold identical frames, so pictures compared by pixels tell the true offset.
    with start_rtsp_camera(fps=FPS, pattern="ball") as cam:
        yield cam


@pytest.fixture(scope="module")
def flaky_camera() -> Iterator[RtspCamera]:
    """A second camera, taken away for a while during the recording: its record gets a gap."""
    with start_rtsp_camera(fps=FPS, pattern="smpte") as cam:
        yield cam


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, AgentProc]]:
    # Reconnects to cam C at least every second: its gap ends soon after the camera is back.
    agent_env = {"VIDEOREC_AGENT_MAX_BACKOFF_S": "1"}
    with start_stack(tmp_path_factory.mktemp("console"), agent_env=agent_env) as running:
        yield running.cp, running.agent


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kept as the test's artifacts: VIDEOREC_SCREENSHOTS, or a folder beside the test's other files."""
    folder = os.environ.get("VIDEOREC_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("console-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


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


LIVE_FRAME_JS = """() => {
  const img = document.querySelector('img.live'), c = document.createElement('canvas');
  c.width = 64; c.height = 36; c.getContext('2d').drawImage(img, 0, 0, 64, 36);
  return c.toDataURL();
}"""

# Decodes a second copy of each file off screen (the tiles stay under the console's control) and
# finds how many frames the second camera's picture is from the first one's.
FRAME_OFFSET_JS = """async ([fps, reach]) => {
  const tile = (name) => [...document.querySelectorAll('.ptile')].find(t => t.textContent.includes(name)).querySelector('video');
  const tiles = [tile('cam A'), tile('cam B')];
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
    """The wall time of every tile that is playing, read from its <video> at one instant, and the
    console's clock."""
    state = page.evaluate(
        """() => ({clock: Number(document.getElementById('wall-clock').dataset.wallMs),
                   videos: [...document.querySelectorAll('.ptile[data-state=play] video')]
                     .map(v => [v.dataset.recordId, v.currentTime])})"""
    )
    return [wall_of(records[rid], t) for rid, t in state["videos"]], state["clock"] / 1000


def settled(page, paused: bool) -> bool:
    return page.evaluate(
        """(paused) => [...document.querySelectorAll('.ptile[data-state=play] video')]
             .every(v => !v.seeking && v.readyState >= 2 && v.paused === paused)""",
        paused,
    )


def make_sources_and_group(page, camera: RtspCamera, flaky: RtspCamera, screenshots: Path) -> None:
    # Sources through the form: the API's 422 is shown next to the field it is about.
    page.get_by_role("link", name="Sources").click()
    create_source(page, "cam A", "http://not-a-camera/stream")
    error = page.locator('[data-error-for="uri_rtsp"]')
    error.filter(has_text="rtsp://").wait_for()
    assert "rtsp://" in error.inner_text()
    for name, cam in (("cam A", camera), ("cam B", camera), ("cam C", flaky)):
        create_source(page, name, cam.url)
        page.locator("td", has_text=name).wait_for()
    assert error.inner_text() == ""

    # The camera comes online, and its live view moves.
    row = page.locator("tr", has_text="cam A")
    row.locator(".badge.s-online").wait_for(timeout=30000)
    row.get_by_role("button", name="Live").click()
    page.wait_for_function("() => document.querySelector('img.live')?.naturalWidth > 0")
    first = page.evaluate(LIVE_FRAME_JS)
    wait_until(lambda: page.evaluate(LIVE_FRAME_JS) != first, 10, what="the live view to change")
    shot(page, screenshots, "sources")

    # A group through the form, the three cameras added to it.
    page.get_by_role("link", name="Groups").click()
    page.locator("#group-form input[name=name]").fill("north-gate")
    page.locator("#group-form").get_by_role("button", name="Create").click()
    page.get_by_role("heading", name="north-gate").wait_for()
    for n in range(1, 4):
        page.locator("#member-form").get_by_role("button", name="Add").click()
        page.wait_for_function("n => document.querySelectorAll('.card tbody tr').length >= n", arg=n)
    shot(page, screenshots, "group")


def record_with_a_gap(page, cp: ControlPlane, flaky: RtspCamera, screenshots: Path) -> list[dict]:
    """Start the tag from the group page, take cam C away for a while, stop it from the tag page."""
    page.locator("#record-form input[name=tag_name]").fill("match-ui")
    page.locator("#record-form").get_by_role("button", name="Start recording").click()
    page.locator("#stop-tag").wait_for()
    with cp.client() as c:

        def rows() -> list[dict]:
            return c.get("/api/v1/record", params={"tag_name": "match-ui"}).json()

        wait_until(lambda: all(r["status"] == "recording" for r in rows()), 30, what="records recording")
        page.goto(cp.url + "/#/")
        page.locator("a", has_text="match-ui").first.wait_for()
        shot(page, screenshots, "overview")
        for row in rows():  # video before the gap
            wait_video_s(cp, row["id"], 2.0)
        flaky.stop()
        # A genuine sleep: the outage's length is the input the timeline must draw (a gap wide
        # enough to seek into); nothing else marks its end.
        time.sleep(GAP_S)
        flaky.restart()
        wait_until(lambda: any(r["gaps"] for r in rows()), 30, what="cam C's gap")
        # A tag still recording plays too (the files as far as they are written).
        page.goto(cp.url + "/#/play/match-ui")
        page.wait_for_function(
            "() => { const v = [...document.querySelectorAll('.ptile video')]; return v.length === 3 && v.every(v => v.readyState >= 2); }"
        )
        page.get_by_role("button", name="play").click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.ptile video')].filter(v => !v.paused && v.currentTime > 0.5).length >= 2"
        )
        shot(page, screenshots, "playback-live")
        page.goto(cp.url + "/#/tags/match-ui")
        page.locator("#stop-tag").click()
        page.locator("#stop-tag").wait_for(state="detached", timeout=30000)

        # A stop answers 202 when finishing takes long (cam C may be reconnecting): the page follows.
        def completed() -> list[dict] | None:
            now = rows()
            return now if all(r["status"] == "completed" for r in now) else None

        done = wait_until(completed, 30, what="records completed")
    assert len(done) == 3
    page.wait_for_function("() => document.querySelectorAll('.badge.s-completed').length === 3")
    page.locator("ul.gaps li").wait_for()
    shot(page, screenshots, "tag")
    return done


def test_operator_makes_a_group_records_a_tag_and_plays_it_back_in_sync(
    stack, camera: RtspCamera, flaky_camera: RtspCamera, browser, screenshots: Path
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

    make_sources_and_group(page, camera, flaky_camera, screenshots)
    rows = record_with_a_gap(page, cp, flaky_camera, screenshots)
    records = {r["id"]: r for r in rows}

    # Playback: three cameras, one clock; cam C's gap on the timeline.
    page.get_by_role("link", name="Play back").click()
    page.wait_for_function(
        "() => { const v = [...document.querySelectorAll('.ptile video')]; return v.length === 3 && v.every(v => v.readyState >= 2); }"
    )
    gap = page.locator(".tl-lane", has_text="cam C").locator(".tl-gap")
    assert gap.count() == 1 and page.locator(".tl-gap").count() == 1
    page.get_by_role("button", name="play").click()
    page.wait_for_function("() => document.getElementById('sync-status').textContent.startsWith('in sync')")

    begin = min(datetime.fromisoformat(r["begin_utc"]).timestamp() for r in rows)
    end = max(datetime.fromisoformat(r["end_utc"]).timestamp() for r in rows)
    spreads = []
    lanes = page.locator(".tl-rows").bounding_box()
    for fraction in (0.75, 0.2, 0.5):
        page.mouse.click(lanes["x"] + lanes["width"] * fraction, lanes["y"] + 5)
        wait_until(lambda: settled(page, paused=False), 10, what="tiles playing after the seek")
        walls, clock = tile_walls(page, records)
        assert len(walls) >= 2
        spreads.append(max(walls) - min(walls))
        assert max(walls) - min(walls) <= SYNC_TOLERANCE_S, walls
        assert all(abs(w - clock) <= SYNC_TOLERANCE_S for w in walls), (walls, clock)
        assert begin <= clock <= end
    first, _ = tile_walls(page, records)
    wait_until(lambda: min(tile_walls(page, records)[0]) > max(first) + 2, 10, what="two seconds of play")
    walls, _ = tile_walls(page, records)
    spreads.append(max(walls) - min(walls))
    assert max(walls) - min(walls) <= SYNC_TOLERANCE_S, walls
    print(f"spread of the tiles' wall times: {[round(s * 1000) for s in spreads]} ms")

    # Into the gap: cam C's tile says its camera was lost, the others go on.
    box = gap.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tile_c = page.locator(".ptile", has_text="cam C")
    tile_c.locator(".note", has_text="Camera lost").wait_for()
    assert tile_c.get_attribute("data-state") == "gap"
    wait_until(lambda: settled(page, paused=False), 10, what="the other tiles playing in the gap")
    shot(page, screenshots, "playback")

    # The true offset, by the pictures: paused, after a seek, the same frame on cam A and B (±1).
    page.get_by_role("button", name="pause").click()
    page.mouse.click(lanes["x"] + lanes["width"] * 0.6, lanes["y"] + 5)
    wait_until(lambda: settled(page, paused=True), 10, what="tiles paused after the seek")
    # Measured again when no frame matched: under CI's load one search (51 seeks of a second
    # <video>) once drew no frame that matched at all (best 1.95 at 1 frame; 0.00 every time on a
    # quiet machine). Whether a match is found, and where, is asserted as before.
    offset = page.evaluate(FRAME_OFFSET_JS, [FPS, 25])
    for _ in range(2):
        if offset["diff"] < 1.0:
            break
        offset = page.evaluate(FRAME_OFFSET_JS, [FPS, 25])
    print(
        f"picture offset between cam A and cam B: {offset['frames']} frames (pixel difference {offset['diff']:.2f})"
    )
    assert offset["diff"] < 1.0, offset  # the same frame was found
    assert abs(offset["frames"]) <= 1, offset

    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, screenshots, "playback-phone")
    page.close()
    assert errors == []


def test_with_an_api_token_the_console_asks_for_it_once_and_keeps_it_out_of_urls(
    tmp_path: Path, browser
) -> None:
    token = "console-token-for-tests"
    with start_stack(tmp_path, agents=0, cp_env={"VIDEOREC_API_TOKEN": token}) as stack:
        open_the_console_with_a_token(browser, stack.cp, token)


def open_the_console_with_a_token(browser, cp: ControlPlane, token: str) -> None:
    page = browser.new_page()
    try:
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(cp.url + "/")
        page.locator("#token-dialog").wait_for(state="visible")
        page.locator("#token-form input[name=token]").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("No agents yet").wait_for()
        page.reload()  # the same tab keeps it: no second question
        page.get_by_text("No agents yet").wait_for()
        assert not page.locator("#token-dialog").is_visible()
        assert page.evaluate("() => sessionStorage.getItem('videorec.token')") == token
        assert page.evaluate("() => localStorage.length") == 0
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for link, heading in (
            ("Sources", "Cameras"),
            ("Groups", "New group"),
            ("Recording", "Start recording"),
            ("Sync", "Jobs"),
        ):
            page.get_by_role("link", name=link, exact=True).click()
            page.get_by_role("heading", name=heading).wait_for()
        assert errors == [] and page.locator("#token-dialog").is_visible() is False
        assert not any(token in url for url in requests)
    finally:
        page.close()  # its keep-alive connections would hold up the server's shutdown
