"""deploy/README.md's Kubernetes secrets: the files made as written (the enrolment with the suite's
image), and the page's `kubectl create` commands run offline (`--dry-run=client -o yaml`, there is no
cluster here): the Secrets they would make hold every key the rendered overlay's pods reference,
each value as the file has it, the agent's token the one its pod name is enrolled with."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.agent_identity import token_for
from tests.deploy.support import podman_env, require_tool
from tests.deploy.test_manifests import OVERLAY, pod_specs, render
from tests.test_docs_commands import commands_of, shell

# The image fixture may build the image from nothing when this is the group's first test.
pytestmark = [pytest.mark.container, pytest.mark.xdist_group("image"), pytest.mark.timeout(1200)]

PAGE = "deploy/README.md"
OFFLINE = " --dry-run=client -o yaml"  # the nearest a machine without a cluster comes to running them


def referenced_keys(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """{secret name: keys} every container of the rendered overlay reads."""
    wanted: dict[str, set[str]] = {}
    for _, spec in pod_specs(objects):
        for container in spec.get("initContainers", []) + spec["containers"]:
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    wanted.setdefault(ref["name"], set()).add(ref["key"])
    return wanted


def test_the_secrets_commands_make_every_key_the_manifests_read(image: str, tmp_path: Path) -> None:
    kubectl = require_tool("kubectl")
    files = commands_of(PAGE, "umask 077", "printf %s ", "VIDEOREC_AGENTS_KEY=$(cat secrets")
    assert len(files) == 5, files
    # The page's image name `videorec` is the one `make image` builds; the suite's is a tag of its own.
    env = {k: v for k, v in podman_env().items() if k == "CONTAINERS_CONF"}
    # One shell, as the reader types them: the umask holds for the files after it.
    script = "\n".join(files)
    done = shell(
        script, tmp_path, {" videorec videorec-controlplane": f" {image} videorec-controlplane"}, **env
    )
    assert done.returncode == 0, done.stderr
    for path in (tmp_path / "secrets").rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path  # umask 077: the admin's eyes only

    made: dict[str, dict[str, str]] = {}
    for command in commands_of(PAGE, "kubectl create namespace", "kubectl -n videorec create secret"):
        done = subprocess.run(
            ["bash", "-c", command.replace("kubectl ", f"{kubectl} ", 1) + OFFLINE],
            cwd=tmp_path,
            env={**os.environ, "KUBECONFIG": str(tmp_path / "no-cluster")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (command, done.stderr)
        obj = yaml.safe_load(done.stdout)
        if obj["kind"] == "Secret":
            assert obj["metadata"]["namespace"] == "videorec"
            made[obj["metadata"]["name"]] = {k: base64.b64decode(v).decode() for k, v in obj["data"].items()}

    wanted = referenced_keys(render(OVERLAY))
    # The example overlay has two sites; the page makes the first one's secret and says "per site".
    assert set(made) == set(wanted) - {"videorec-agent-south"}, (made.keys(), wanted)
    for name, keys in made.items():
        assert set(keys) == wanted[name], name
    north = made["videorec-agent-north"]["token"]
    assert north == token_for(made["videorec"]["agents-key"], "videorec-agent-north-0", None)
    assert made["videorec"]["database-url"].startswith("postgresql://")
