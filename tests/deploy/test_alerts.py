"""The alert rules shipped in deploy/prometheus: valid, and firing when they should (promtool's own
rule tests, with the series a stalled recording, a dead camera or agent, a full disk and a failing
sync produce)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("promtool is missing: `make test` installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return found


def test_alert_rules_are_valid():
    done = subprocess.run(
        [_promtool(), "check", "rules", "alerts.yml"], cwd=RULES, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_fire_as_their_tests_say():
    done = subprocess.run(
        [_promtool(), "test", "rules", "alerts_test.yml"], cwd=RULES, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_series_the_alerts_use_is_exported():
    """A renamed metric would silently disable its alert."""
    rules = (RULES / "alerts.yml").read_text()
    sources = "".join(
        p.read_text()
        for p in Path(__file__).resolve().parents[2].glob("*/**/*.py")
        if "ops" in p.parts or p.name == "metrics.py"
    )
    for name in (
        "videorec_agent_last_fragment_age_seconds",
        "videorec_agent_camera_up",
        "videorec_agent_heartbeat_age_seconds",
        "videorec_agent_disk_free_bytes",
        "videorec_agent_disk_reserve_bytes",
        "videorec_sync_failures",
        "videorec_sync_md5_mismatches",
    ):
        assert name in rules
        assert f'"{name}"' in sources, name
