"""Chromium for the console's browser tests: Debian's binary driven by Playwright (never a download)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as sync_api  # a dev dependency: never skipped for lack of it
import pytest

from videorec_testing.browser import CHROMIUM, CHROMIUM_ARGS

# `make test` installs Chromium; outside CI a machine without it skips, under CI=true it fails.
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and os.environ.get("CI", "").lower() not in ("1", "true", "yes"),
    reason="apt-get install chromium",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
