"""docs/configuration.md is rendered from the settings classes: `make docs` writes it, `make lint`'s
docs-check fails on a stale copy (naming what to run) and passes on a fresh one, every field shows its
variable, type, bounds, default and description, and a field without a description is refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.settings import AgentSettings
from controlplane.settings import Settings
from shared import settings_doc

ROOT = Path(__file__).resolve().parents[1]


def make(target: str, config_doc: Path) -> subprocess.CompletedProcess[str]:
    """The Makefile's own target with its list of classes; STAMP empty: nothing gets installed."""
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), target, "STAMP=", f"PY={sys.executable}", f"CONFIG_DOC={config_doc}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_docs_check_fails_on_a_stale_reference_and_passes_on_a_fresh_one(tmp_path: Path) -> None:
    committed = ROOT / "docs" / "configuration.md"
    assert make("docs-check", committed).returncode == 0, "docs/configuration.md is stale: run make docs"
    stale = tmp_path / "configuration.md"
    shutil.copy(committed, stale)
    stale.write_text(stale.read_text().replace("`8080`", "`8081`"))
    failed = make("docs-check", stale)
    assert failed.returncode != 0
    assert "out of date" in failed.stderr and "run 'make docs'" in failed.stderr
    assert "8081" in failed.stderr  # the diff shows what differs
    assert make("docs-check", tmp_path / "missing.md").returncode != 0
    assert make("docs", stale).returncode == 0
    assert make("docs-check", stale).returncode == 0
    assert stale.read_text() == committed.read_text()


def test_every_field_is_documented_with_its_variable_type_default_and_description() -> None:
    text = settings_doc.render([Settings, AgentSettings])
    assert "| `VIDEOREC_HTTP_PORT` | `int` (≥ 0, ≤ 65535) | `8080` | Port of the REST API" in text
    assert "| `VIDEOREC_API_TOKEN` | `secret \\| None` | unset |" in text
    assert "| `VIDEOREC_MEDIA_REDIRECT` | `bool` | `false` |" in text
    assert "| `VIDEOREC_AGENT_STORAGE_ROOT` | `Path` | `data/agent` |" in text
    # The host name is where the doc is made, not a default: the description says it.
    assert "| `VIDEOREC_AGENT_NAME` | `str` | see description |" in text
    for cls in (Settings, AgentSettings):
        prefix = cls.model_config["env_prefix"]
        for name in cls.model_fields:
            assert f"| `{prefix}{name.upper()}` |" in text
    # Nested objects are described as JSON where they are used, key by key.
    assert "### BucketSettings: a JSON object in `VIDEOREC_SYNC_BUCKETS`" in text
    assert "| `part_size` | `int` (≥ 65536, ≤ 5368709120) | `8388608` |" in text
    assert "### PeerConfig: a JSON object in `VIDEOREC_SYNC_PEERS`" in text


class Undocumented(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="X_")

    bare: int = 3


class SecretDefault(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="X_")

    key: SecretStr = Field(SecretStr("hidden-default"), description="A secret.")


def test_a_field_without_a_description_is_refused_and_no_secret_default_is_shown() -> None:
    with pytest.raises(settings_doc.UndocumentedFieldError, match="Undocumented.bare"):
        settings_doc.render([Undocumented])
    text = settings_doc.render([SecretDefault])
    assert "| `X_KEY` | `secret` | (secret) | A secret. |" in text and "hidden-default" not in text
