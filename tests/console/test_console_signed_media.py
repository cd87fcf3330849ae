"""With an API token, the console plays a record from its agent through a signed URL (ranges, seeks),
not as a whole-file blob, and asks for a new URL when the agent refuses an expired one.
Real Chromium, control plane, agent, ffmpeg and RTSP camera."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.console.conftest import needs_chromium
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.processes import wait_until
from videorec_testing.stack import Stack, start_stack

TOKEN = "console-signed-media-token"
TTL_S = 4  # short, so that the test sees a URL expire; long enough for a page to load on a busy box
TAG = "signed-play"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("console_signed"),
    needs_chromium,
]

VIDEO_JS = """() => { const v = document.querySelector('.ptile video');
  return v ? {src: v.currentSrc, ready: v.readyState, t: v.currentTime, error: v.error && v.error.code,
              state: v.closest('.ptile').dataset.state || ''} : null; }"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, dict]]:
    """A completed record of a few seconds, on a stack that wants a token for its API."""
    tmp = tmp_path_factory.mktemp("signed-media")
    env = {"VIDEOREC_API_TOKEN": TOKEN, "VIDEOREC_MEDIA_URL_TTL_S": str(TTL_S)}
    with start_rtsp_camera() as camera, start_stack(tmp, cp_env=env) as stack:
        yield stack, record_a_tag(stack, camera)


def record_a_tag(stack: Stack, camera: RtspCamera) -> dict:
    with stack.cp.client() as c:
        source = c.post(
            "/api/v1/source", json={"model": "Source", "uri_rtsp": camera.url, "description": "gate"}
        )
        group = c.post("/api/v1/group", json={"name": "signed"}).json()
        c.post(f"/api/v1/group/{group['id']}/source/{source.json()['id']}").raise_for_status()
        c.post("/api/v1/record", json={"tag_name": TAG, "group_name": "signed"}).raise_for_status()

        def seconds_recorded() -> float:
            (row,) = c.get("/api/v1/record", params={"tag_name": TAG}).json()
            begin = row["begin_utc"]  # set by the agent when the first fragment lands
            return time.time() - datetime.fromisoformat(begin).timestamp() if begin else 0.0

        # Enough video that a seek lands well inside the file (checked below from the file's duration).
        wait_until(lambda: seconds_recorded() >= 8, 60, interval=0.2, what="8 s of video")
        assert c.put("/api/v1/record", json={"tag_name": TAG}).status_code == 200
        (row,) = c.get("/api/v1/record", params={"tag_name": TAG}).json()
    assert row["status"] == "completed" and row["duration_s"] >= 7, row
    return row


def expires_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["expires"][0])


def test_the_console_streams_a_record_from_its_agent_and_renews_an_expired_url(recorded, browser) -> None:
    stack, row = recorded
    page = browser.new_page()
    try:
        page.add_init_script(f"sessionStorage.setItem('videorec.token', {TOKEN!r})")
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{stack.cp.url}/#/play/{TAG}")
        page.wait_for_function("() => document.querySelector('.ptile video')?.readyState >= 2", timeout=30000)
        first = page.evaluate(VIDEO_JS)

        # The file comes from the agent's HTTP port at a signed URL, not through the control plane.
        assert (
            first["src"].startswith("http://") and "/media/" in first["src"] and "signature=" in first["src"]
        ), first
        assert not first["src"].startswith(stack.cp.url)
        assert not any(f"/record/{row['id']}/video" in url and "video_url" not in url for url in requests)
        assert not any(TOKEN in url for url in requests)

        # It seeks like any file served with ranges: the console's own control, 5 s on.
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "() => { const v = document.querySelector('.ptile video');"
            " return !v.seeking && v.readyState >= 2 && Math.abs(v.currentTime - 5) < 0.5; }",
            timeout=30000,
        )

        # Once the URL has expired the agent refuses it; reloading the element (what a browser does when
        # it needs bytes it dropped) fails once, and the console asks for a new URL and goes on.
        expires = expires_of(first["src"])
        wait_until(lambda: time.time() > expires + 1, TTL_S * 5, interval=0.2, what="the URL to expire")
        refused: list[int] = []
        page.on("response", lambda r: refused.append(r.status) if r.url.startswith(first["src"]) else None)
        # (a query parameter of its own keeps Chromium from answering out of its media cache)
        page.evaluate(
            "() => { const v = document.querySelector('.ptile video'); v.src = v.currentSrc + '&again=1'; }"
        )
        page.wait_for_function(
            "old => { const v = document.querySelector('.ptile video');"
            " return !v.currentSrc.startsWith(old) && v.readyState >= 2; }",
            arg=first["src"],
            timeout=30000,
        )
        renewed = page.evaluate(VIDEO_JS)
        assert refused and all(status == 403 for status in refused), refused
        assert renewed["error"] is None and renewed["state"] != "error", renewed
        assert expires_of(renewed["src"]) > expires
        assert errors == []
    finally:
        page.close()
