"""The source form sets what a source does when an agent fails (site, failover, dual recording), and
the list shows where each source records. Real Chromium against a real control plane."""

from __future__ import annotations

from collections.abc import Iterator

import playwright.sync_api as sync_api
import pytest

from tests.console.conftest import needs_chromium
from videorec_testing.stack import Stack, start_stack

pytestmark = [
    pytest.mark.e2e,
    needs_chromium,
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("console-failover"), agents=0) as running:
        yield running


@pytest.fixture
def page(stack: Stack, browser: sync_api.Browser) -> Iterator[sync_api.Page]:
    page = browser.new_page()
    try:
        page.goto(stack.cp.url + "/#/sources")
        page.locator("#source-form").wait_for()
        yield page
    finally:
        page.close()


def sources(stack: Stack) -> list[dict]:
    with stack.cp.client() as c:
        return list(c.get("/api/v1/source").json())


def test_a_dual_recorded_source_of_a_site_is_made_and_edited_through_the_form(stack: Stack, page) -> None:
    form = page.locator("#source-form")
    form.locator("input[name=description]").fill("loading dock")
    form.locator("input[name=uri_rtsp]").fill("rtsp://10.0.0.9:554/stream1")
    form.locator("input[name=site]").fill("north")
    assert form.locator("input[name=failover]").is_checked()  # the default, as in the API
    form.locator("input[name=redundancy]").check()
    form.get_by_role("button", name="Create").click()
    row = page.locator("tr", has_text="loading dock")
    row.wait_for()
    assert "site north" in row.inner_text() and "dual" in row.inner_text()

    (made,) = [s for s in sources(stack) if s["description"] == "loading dock"]
    assert (made["site"], made["failover"], made["redundancy"]) == ("north", True, 2)

    # Edited: failover off, one copy again; the form shows what the source has.
    row.get_by_role("button", name="Edit").click()
    assert form.locator("input[name=site]").input_value() == "north"
    assert form.locator("input[name=redundancy]").is_checked()
    form.locator("input[name=failover]").uncheck()
    form.locator("input[name=redundancy]").uncheck()
    form.get_by_role("button", name="Save").click()
    page.locator("tr", has_text="no failover").wait_for()
    (edited,) = [s for s in sources(stack) if s["id"] == made["id"]]
    assert (edited["site"], edited["failover"], edited["redundancy"]) == ("north", False, 1)


def test_a_bad_site_is_shown_next_to_its_field_and_nothing_is_made(stack: Stack, page) -> None:
    before = sources(stack)
    form = page.locator("#source-form")
    form.locator("input[name=uri_rtsp]").fill("rtsp://10.0.0.10:554/stream1")
    form.locator("input[name=site]").fill("north gate")  # a space: not a site name
    form.get_by_role("button", name="Create").click()
    error = form.locator("[data-error-for=site]")
    error.wait_for(state="visible")
    assert error.inner_text().strip()
    assert sources(stack) == before
