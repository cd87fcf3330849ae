"""The console's views in a real Chromium against a real control plane, agent and RTSP camera: the
router, the polling, and what a user sees of a dead camera, of the end of a tag, of four cameras, on
a phone and on the Sources page (the defects of issues 22 and 23)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import playwright.sync_api as sync_api
import pytest

from tests.console.conftest import needs_chromium
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.net import free_port
from videorec_testing.records import make_group, records, wait_video_s
from videorec_testing.stack import Stack, start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("console-views"), needs_chromium]

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
FOUR = "four-cams"


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    with start_rtsp_camera(fps=25, pattern="ball") as cam:
        yield cam


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, camera: RtspCamera) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("console-views")) as running:
        cp = running.cp
        make_group(cp, "four", [{"uri_rtsp": camera.url, "description": f"cam {n}"} for n in range(1, 5)])
        with cp.client() as c:
            assert c.post("/api/v1/record", json={"tag_name": FOUR, "group_name": "four"}).status_code == 200
            for row in records(cp, FOUR):
                wait_video_s(cp, row["id"], 3.0)
            assert c.put("/api/v1/record", json={"tag_name": FOUR}).status_code == 200
        wait_until(
            lambda: all(r["status"] == "completed" for r in records(cp, FOUR)), 60, what="the tag completed"
        )
        yield running


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("VIDEOREC_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("console-views-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Page:
    """A browser page that keeps what went wrong in it: script errors and console errors."""

    def __init__(self, page: sync_api.Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.debug: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)

    def _console(self, msg: sync_api.ConsoleMessage) -> None:
        if msg.type == "error":
            self.errors.append(msg.text)
        elif msg.type == "debug":
            self.debug.append(msg.text)

    def script_errors(self, *allowed: str) -> list[str]:
        """Errors other than the network failures a test caused on purpose (`allowed`)."""
        return [e for e in self.errors if not any(a in e for a in allowed)]


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[Page]:
    page = browser.new_page(viewport=DESKTOP)
    try:
        yield Page(page)
    finally:
        page.close()


def shot(page: sync_api.Page, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def box(locator: sync_api.Locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, locator
    return found


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def in_viewport(b: dict, viewport: dict) -> bool:
    return (
        b["x"] >= 0
        and b["y"] >= 0
        and b["x"] + b["width"] <= viewport["width"]
        and b["y"] + b["height"] <= viewport["height"]
    )


def wait_in_page(page: sync_api.Page, check, timeout: float, what: str):
    """wait_until for what the page's events tell: Playwright delivers them only while it is called."""
    return wait_until(lambda: page.wait_for_timeout(100) or check(), timeout, what=what)


def open_playback(page: sync_api.Page, stack: Stack, tag: str, tiles: int) -> None:
    page.goto(f"{stack.cp.url}/#/play/{tag}")
    page.wait_for_function(
        "n => { const v = [...document.querySelectorAll('.ptile video')]; return v.length === n && v.every(v => v.readyState >= 2); }",
        arg=tiles,
    )


# --- issue 22: the router and the polling --------------------------------------------------------


def test_a_slow_page_never_replaces_the_page_the_user_moved_on_to(stack: Stack, page: Page) -> None:
    p = page.page
    held: list[sync_api.Route] = []
    p.route("**/api/v1/record?tag_name=*", lambda route: held.append(route))
    p.goto(f"{stack.cp.url}/#/play/{FOUR}")  # its records are held back: the playback is slow
    wait_in_page(p, lambda: held, 10, what="the playback's request")
    p.get_by_role("link", name="Sources", exact=True).click()
    p.get_by_role("heading", name="Cameras").wait_for()

    with p.expect_response("**/api/v1/record?tag_name=*"):
        held[0].continue_()
    p.unroute("**/api/v1/record?tag_name=*")
    # The late answer has come: the old router drew the playback over the Sources page here.
    wait_until(
        lambda: p.locator(".playgrid").count() or any("dropped the late render" in d for d in page.debug),
        10,
        what="the late playback to be drawn or dropped",
    )
    assert p.locator(".playgrid").count() == 0
    assert p.get_by_role("heading", name="Cameras").is_visible()
    assert page.script_errors() == []


def test_lists_are_asked_with_their_etag_and_a_failed_refresh_is_shown_until_one_succeeds(
    stack: Stack, page: Page, screenshots: Path
) -> None:
    p = page.page
    answers: list[tuple[int, str | None]] = []

    def seen(response: sync_api.Response) -> None:
        if response.request.method == "GET" and response.url.endswith("/api/v1/source"):
            answers.append((response.status, response.request.headers.get("if-none-match")))

    p.on("response", seen)
    p.goto(f"{stack.cp.url}/#/sources")
    p.locator("tr", has_text="cam 1").wait_for()
    # Every refresh names the copy it has, and while the list is unchanged that costs a 304 (a
    # camera's status changing makes a new list, so the first few may be 200s).
    wait_in_page(p, lambda: any(status == 304 for status, _ in answers), 40, what="a 304 for the sources")
    assert answers[0] == (200, None) and all(etag for _, etag in answers[1:]), answers
    assert p.locator("#status").is_hidden()

    # The API fails: the page says so (and keeps the list it has), and waits longer each time.
    p.route(
        "**/api/v1/source",
        lambda route: route.fulfill(status=503, json={"detail": "the database is away"}),
    )
    status = p.locator("#status")
    status.filter(has_text="the database is away").wait_for(timeout=20000)
    assert "Trying again in 10 s" in status.inner_text()
    status.filter(has_text="Trying again in 20 s").wait_for(timeout=20000)
    assert p.locator("tr", has_text="cam 1").is_visible()
    shot(p, screenshots, "refresh-failed")

    # Back: "Try now" refreshes at once and the message goes.
    p.unroute("**/api/v1/source")
    status.get_by_role("button", name="Try now").first.click()
    status.wait_for(state="hidden")
    assert page.script_errors("status of 503") == []


def test_a_hidden_tab_stops_polling_and_catches_up_when_shown(stack: Stack, page: Page) -> None:
    p = page.page
    reads: list[str] = []
    p.on("request", lambda r: reads.append(r.url) if r.url.endswith("/api/v1/sync") else None)
    p.goto(f"{stack.cp.url}/#/sync")
    p.get_by_role("heading", name="Jobs").wait_for()
    wait_in_page(p, lambda: len(reads) >= 2, 15, what="the sync page polling")
    p.evaluate(
        """() => { Object.defineProperty(document, 'hidden', {value: true, configurable: true});
                   document.dispatchEvent(new Event('visibilitychange')); }"""
    )
    hidden_at = len(reads)
    # Two polling periods (3 s each) with the tab hidden: at most the read under way when it hid.
    p.wait_for_timeout(7000)
    assert len(reads) <= hidden_at + 1, reads
    p.evaluate(
        """() => { Object.defineProperty(document, 'hidden', {value: false, configurable: true});
                   document.dispatchEvent(new Event('visibilitychange')); }"""
    )
    wait_in_page(p, lambda: len(reads) > hidden_at + 1, 5, what="a read as soon as the tab is shown")
    assert page.script_errors() == []


# --- issue 23: console defects -------------------------------------------------------------------


def test_a_camera_offline_for_the_whole_tag_says_so_and_has_no_file_and_no_bar(
    stack: Stack, camera: RtspCamera, page: Page, screenshots: Path
) -> None:
    cp, p = stack.cp, page.page
    dead = f"rtsp://127.0.0.1:{free_port()}/stream"  # nothing listens there
    make_group(
        cp,
        "mixed",
        [{"uri_rtsp": camera.url, "description": "live cam"}, {"uri_rtsp": dead, "description": "dead cam"}],
    )
    with cp.client() as c:
        assert c.post("/api/v1/record", json={"tag_name": "dead-1", "group_name": "mixed"}).status_code == 200
    (good,) = [r for r in records(cp, "dead-1") if r["source"]["description"] == "live cam"]
    wait_video_s(cp, good["id"], 2.0)

    # While recording: a clear state with the reason, and no Download for what does not exist.
    p.goto(f"{cp.url}/#/tags/dead-1")
    row = p.locator("tr", has_text="dead cam")
    row.locator(".badge", has_text="camera unreachable").wait_for(timeout=30000)
    assert "Connection refused" in row.locator(".why").inner_text()
    assert row.get_by_text("Download").count() == 0
    assert p.locator("tr", has_text="live cam").get_by_text("Download").count() == 1
    shot(p, screenshots, "dead-camera-recording")

    p.goto(f"{cp.url}/#/play/dead-1")
    p.locator(".ptile", has_text="dead cam").locator(".note", has_text="Camera unreachable").wait_for()
    assert p.locator(".tl-lane", has_text="dead cam").locator(".tl-bar").count() == 0
    assert p.locator(".tl-lane", has_text="live cam").locator(".tl-bar").count() == 1

    # Stopped while the playback is open: it learns where the tag ends (its lane stops growing).
    assert p.locator(".tl-bar.live").count() == 1
    with cp.client() as c:
        assert c.put("/api/v1/record", json={"tag_name": "dead-1"}).status_code == 200
    p.locator(".tl-bar.live").wait_for(state="detached", timeout=30000)

    # Stopped: failed, why, still no Download, and on the timeline a bar only for the live camera.
    p.goto(f"{cp.url}/#/tags/dead-1")
    row.locator(".badge.s-failed").wait_for(timeout=30000)
    assert "no video was received" in row.locator(".why").inner_text()
    assert row.get_by_text("Download").count() == 0 and "no file" in row.inner_text()
    (failed,) = [r for r in records(cp, "dead-1") if r["source"]["description"] == "dead cam"]
    assert failed["size_bytes"] is None and failed["gaps"] == []  # what the page reads it from
    shot(p, screenshots, "dead-camera-stopped")

    open_playback(p, stack, "dead-1", tiles=1)
    dead_tile = p.locator(".ptile", has_text="dead cam")
    assert "no video was received" in dead_tile.locator(".note").inner_text()
    assert dead_tile.get_by_text("Download").count() == 0
    assert p.locator(".tl-lane", has_text="dead cam").locator(".tl-bar").count() == 0
    assert p.locator(".tl-lane", has_text="live cam").locator(".tl-bar").count() == 1
    shot(p, screenshots, "dead-camera-playback")
    assert page.script_errors() == []


def test_playback_stops_at_the_end_of_the_tag(stack: Stack, page: Page) -> None:
    p = page.page
    end_ms = max(datetime.fromisoformat(r["end_utc"]).timestamp() for r in records(stack.cp, FOUR)) * 1000
    open_playback(p, stack, FOUR, tiles=4)
    lanes = box(p.locator(".tl-rows"))
    p.mouse.click(lanes["x"] + lanes["width"] * 0.85, lanes["y"] + 5)
    clock = lambda: float(p.locator("#wall-clock").get_attribute("data-wall-ms"))  # noqa: E731
    assert clock() < end_ms
    p.get_by_role("button", name="play").click()
    p.get_by_role("button", name="pause").wait_for()
    # It plays to the end, and there it stops: the button offers play again, the clock stands still.
    p.get_by_role("button", name="play").wait_for(timeout=20000)
    assert p.locator("#sync-status").inner_text() == "end of the tag"
    stopped = clock()
    assert end_ms - 100 <= stopped <= end_ms + 1, (stopped, end_ms)
    p.wait_for_timeout(500)  # five ticks of the player's clock: it must not have moved
    assert clock() == stopped
    # Play at the end starts the tag again.
    p.get_by_role("button", name="play").click()
    p.get_by_role("button", name="pause").wait_for()
    assert clock() < end_ms - 1000
    assert page.script_errors() == []


def test_four_cameras_are_two_by_two_and_the_transport_covers_none(
    stack: Stack, page: Page, screenshots: Path
) -> None:
    p = page.page
    open_playback(p, stack, FOUR, tiles=4)
    tiles = [box(t) for t in p.locator(".ptile").all()]
    assert len({round(t["x"]) for t in tiles}) == 2 and len({round(t["y"]) for t in tiles}) == 2, tiles
    transport = box(p.locator(".transport"))
    assert not any(overlap(transport, t) for t in tiles), (transport, tiles)
    # Everything fits the window: the player and its controls at once, no scrolling.
    assert all(in_viewport(t, DESKTOP) for t in [*tiles, transport]), (tiles, transport)
    shot(p, screenshots, "playback-four")
    assert page.script_errors() == []


def test_on_a_phone_every_page_is_reachable_and_timeline_labels_do_not_overlap(
    stack: Stack, page: Page, screenshots: Path
) -> None:
    p = page.page
    p.set_viewport_size(PHONE)
    p.goto(stack.cp.url + "/")
    p.get_by_role("heading", name="Agents").wait_for()
    links = p.locator("#nav a")
    assert links.count() >= 5
    for link in links.all():
        b = box(link)
        assert in_viewport(b, PHONE), (link.inner_text(), b)
        # Nothing covers it: a tap at its centre lands on it.
        hit = p.evaluate(
            "([x, y]) => document.elementFromPoint(x, y)?.closest('#nav a')?.textContent",
            [b["x"] + b["width"] / 2, b["y"] + b["height"] / 2],
        )
        assert hit == link.inner_text(), (hit, link.inner_text())
    for name, heading in (("Recording", "Start recording"), ("Sync", "Jobs"), ("Sources", "Cameras")):
        p.get_by_role("link", name=name, exact=True).click()
        p.get_by_role("heading", name=heading).wait_for()
    shot(p, screenshots, "phone-sources")

    open_playback(p, stack, FOUR, tiles=4)
    zoom_out = p.get_by_role("button", name="zoom out")
    for level in range(6):  # from the whole tag out to ~1 min: every tick spacing the axis takes
        ticks = [box(t) for t in p.locator(".tl-tick").all()]
        assert ticks, level
        for a, b in zip(ticks, ticks[1:], strict=False):
            assert a["x"] + a["width"] <= b["x"], (level, a, b)
        assert all(t["x"] >= 0 and t["x"] + t["width"] <= PHONE["width"] for t in ticks), ticks
        if level == 0:
            shot(p, screenshots, "phone-playback")
        zoom_out.click()
    assert page.script_errors() == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_sources_snapshot_and_live_view_open_in_view(
    stack: Stack, page: Page, screenshots: Path, viewport: dict
) -> None:
    p = page.page
    p.set_viewport_size(viewport)
    p.goto(f"{stack.cp.url}/#/sources")
    row = p.locator("tr", has_text="cam 4")
    row.wait_for()
    for button, image in (("Snapshot", "img.snap"), ("Live", "img.live")):
        row.get_by_role("button", name=button).click()
        p.wait_for_function("sel => document.querySelector(sel)?.naturalWidth > 0", arg=image)
        b = box(p.locator(image))
        assert b["y"] >= 0 and b["y"] + min(b["height"], 200) <= viewport["height"], (button, b)
    shot(p, screenshots, f"sources-live-{viewport['width']}")
    p.locator(".viewer").get_by_role("button", name="Close").click()
    assert p.locator(".viewer").is_hidden()
    assert page.script_errors() == []
