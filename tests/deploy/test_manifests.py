"""The Kubernetes manifests as `kubectl kustomize` renders them, the compose file, the systemd units."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import DEPLOY, require_tool

K8S = DEPLOY / "k8s"
OVERLAY = K8S / "overlays" / "example"
SECRET_ENV = re.compile(r"TOKEN|KEY|PASSWORD|DATABASE_URL|SECRET")
# A value that is a secret: long random-looking text, or a URL with credentials in it.
LOOKS_SECRET = re.compile(r"^[A-Za-z0-9+/=_-]{24,}$|://[^/@\s]+:[^/@\s]+@")


def render(path: Path) -> list[dict[str, Any]]:
    kubectl = require_tool("kubectl")
    out = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield o["metadata"]["name"], o["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return render(OVERLAY)


@pytest.mark.parametrize("path", ["base/controlplane", "base/agent", "overlays/example"])
def test_every_kustomization_renders(path: str) -> None:
    assert render(K8S / path)


def test_controlplane_replicas_probe_roll_and_migrate_first(rendered: list[dict[str, Any]]) -> None:
    (deployment,) = by_kind(rendered, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]
    (container,) = pod["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    (init,) = pod["spec"]["initContainers"]
    assert init["command"] == ["videorec-controlplane", "migrate"]
    assert init["image"] == container["image"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(container["ports"][0]["containerPort"])

    (pdb,) = by_kind(rendered, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] >= 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    service = next(
        s for s in by_kind(rendered, "Service") if s["metadata"]["name"] == "videorec-controlplane"
    )
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()


def test_agents_are_pinned_per_site_with_storage_and_own_tokens(rendered: list[dict[str, Any]]) -> None:
    agents = by_kind(rendered, "StatefulSet")
    assert {a["metadata"]["name"] for a in agents} == {"videorec-agent-north", "videorec-agent-south"}
    services = {s["metadata"]["name"]: s for s in by_kind(rendered, "Service")}
    token_secrets = set()
    for agent in agents:
        name, spec = agent["metadata"]["name"], agent["spec"]
        site = name.removeprefix("videorec-agent-")
        assert spec["template"]["spec"]["nodeSelector"] == {"videorec.example/site": site}
        assert services[spec["serviceName"]]["spec"]["clusterIP"] == "None"
        (claim,) = spec["volumeClaimTemplates"]
        (container,) = spec["template"]["spec"]["containers"]
        assert {"name": claim["metadata"]["name"], "mountPath": "/var/lib/videorec-agent"} in container[
            "volumeMounts"
        ]
        assert container["command"] == ["videorec-agent"]
        assert {"name": "http", "containerPort": 8081} in container["ports"]
        for probe, path in (
            ("startupProbe", "/healthz"),
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
        ):
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}
        annotations = spec["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == "8081" and annotations["prometheus.io/path"] == "/metrics"
        env = container["env"]
        token = next(e for e in env if e["name"] == "VIDEOREC_AGENT_TOKEN")
        token_secrets.add(token["valueFrom"]["secretKeyRef"]["name"])
        # Kubernetes expands $(NAME) only from variables listed earlier.
        for i, var in enumerate(env):
            for ref in re.findall(r"\$\((\w+)\)", var.get("value", "")):
                assert ref in {e["name"] for e in env[:i]}, (name, var)
    assert token_secrets == {"videorec-agent-north", "videorec-agent-south"}


def test_every_pod_is_non_root_read_only_limited_and_has_a_tmp(rendered: list[dict[str, Any]]) -> None:
    specs = list(pod_specs(rendered))
    assert len(specs) == 3
    for name, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = (name, container["name"])
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][bound].keys(), where
            assert any(
                m["mountPath"] == "/tmp" and m["name"] in tmp_volumes for m in container["volumeMounts"]
            )


def test_no_secret_is_written_into_the_manifests(rendered: list[dict[str, Any]]) -> None:
    assert not by_kind(rendered, "Secret") and not by_kind(rendered, "ConfigMap")
    for name, spec in pod_specs(rendered):
        for container in spec.get("initContainers", []) + spec["containers"]:
            for var in container.get("env", []):
                if SECRET_ENV.search(var["name"]):
                    assert "value" not in var and "secretKeyRef" in var["valueFrom"], (name, var)
                else:
                    assert not LOOKS_SECRET.search(str(var.get("value", ""))), (name, var)


# --- compose ---------------------------------------------------------------------------------------

COMPOSE_SECRETS = ("POSTGRES_PASSWORD", "VIDEOREC_API_TOKEN", "VIDEOREC_AGENTS_KEY", "VIDEOREC_AGENT_TOKEN")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_migrates_before_two_replicas_behind_a_proxy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["command"] == ["videorec-controlplane", "migrate"]
    assert services["migrate"]["restart"] == "on-failure"  # retries until PostgreSQL answers
    replicas = [name for name, s in services.items() if s.get("command") == ["videorec-controlplane"]]
    assert len(replicas) == 2
    for name in replicas:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
    assert {name: "service_healthy" for name in replicas}.items() <= {
        k: v["condition"] for k, v in services["proxy"]["depends_on"].items()
    }.items()
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert all(f"{name}:8080" in caddyfile for name in replicas) and "health_uri /readyz" in caddyfile
    assert services["proxy"]["ports"] and not any(
        "ports" in services[n] for n in [*replicas, "agent", "postgres"]
    )
    agent = services["agent"]
    assert agent["command"] == ["videorec-agent"]
    assert any(v.endswith(":/var/lib/videorec-agent") for v in agent["volumes"])
    assert agent["healthcheck"]["test"] == ["CMD", "videorec-healthcheck", "agent"]
    for name in ["migrate", *replicas, "agent"]:
        s = services[name]
        assert s["read_only"] is True and s["cap_drop"] == ["ALL"], name


def test_compose_takes_every_secret_from_the_env_file(compose: dict[str, Any]) -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    for name in COMPOSE_SECRETS:
        assert re.search(rf"\$\{{{name}:\?[^}}]*\}}", text), f"{name} is not required from .env"
    for service, spec in compose["services"].items():
        for key, value in (spec.get("environment") or {}).items():
            if SECRET_ENV.search(key):
                assert "${" in str(value), (service, key)
    example = dict(
        line.split("=", 1)
        for line in (DEPLOY / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert all(example[name] == "" for name in COMPOSE_SECRETS)
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


# --- systemd ---------------------------------------------------------------------------------------

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
HARDENING = {
    "User": "videorec",
    "NoNewPrivileges": "true",
    "ProtectSystem": "strict",
    "ProtectHome": "true",
    "PrivateTmp": "true",
    "PrivateDevices": "true",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "true",
}


def unit_settings(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_unit_is_hardened(unit: Path) -> None:
    settings = unit_settings(unit)
    for key, value in HARDENING.items():
        assert settings.get(key) == [value], (unit.name, key)
    (state,) = settings["StateDirectory"]
    assert settings["ReadWritePaths"] == [f"/var/lib/{state}"]


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    # A root of our own: the units' ExecStart programs exist there, and systemd's own targets.
    (tmp_path / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", tmp_path / "usr/lib/systemd/system", symlinks=True)
    bin_dir = tmp_path / "opt/videorec/.venv/bin"
    bin_dir.mkdir(parents=True)
    for program in ("videorec-controlplane", "videorec-agent"):
        (bin_dir / program).write_text("#!/bin/sh\n")
        (bin_dir / program).chmod(0o755)
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(unit, units / unit.name)
    result = subprocess.run(
        [analyze, "verify", f"--root={tmp_path}", *(str(units / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    for unit in UNITS:
        exposure = subprocess.run(
            [analyze, "security", "--offline=true", f"--root={tmp_path}", "--threshold=25", unit.name],
            capture_output=True,
            text=True,
            check=False,
        )
        assert exposure.returncode == 0, exposure.stdout[-2000:]
