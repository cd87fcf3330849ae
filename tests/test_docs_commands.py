"""Every shell command in README.md and docs/*.md is run by a test, so none goes stale.

The fenced `sh` blocks are read from the files, and the commands written inline (`make help`); each
command (continuation lines joined, comments dropped) is either run here, as written, against real processes in a temporary folder (only the
placeholders a reader replaces, such as `/var/lib/videorec` or `db.example`, are swapped for the
test's own), or is listed below with the test that runs it. A command in the documentation that is
neither fails `test_every_documented_command_has_a_runner`: add it to a runner, or run it here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest

from videorec_testing.db import postgres_database
from videorec_testing.net import free_port
from videorec_testing.processes import start_controlplane
from videorec_testing.wait import wait_until

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy" / "README.md"]
VENV_BIN = ROOT / ".venv" / "bin"

# Whole blocks run word for word by another test, by the heading they are under.
RUN_BY_HEADING = {
    (
        "README.md",
        "## Try it",
    ): "tests/e2e/test_readme.py::test_the_readme_first_recording_plays_and_matches_its_md5",
    (
        "README.md",
        "### Add an agent",
    ): "tests/e2e/test_readme.py::test_the_readme_first_recording_plays_and_matches_its_md5",
}
# Single commands run by another test (the test runs this command, or the exact Makefile recipe).
RUN_ELSEWHERE = {
    "make run": "tests/test_make_run.py::test_the_run_command_serves_the_api_and_stops_on_sigterm",
    # .ci/run runs `make test` itself; this test checks what its recipe installs.
    "make test": "tests/test_make_run.py::test_make_run_installs_what_running_needs_and_no_developer_tool",
    "VIDEOREC_DATABASE_URL=postgresql://videorec@db.example/videorec videorec-controlplane migrate": (
        "tests/e2e/test_upgrade.py::test_the_previous_release_upgrades_database_first_then_agents"
    ),
    **dict.fromkeys(
        [
            "mkdir -p /backups/agent-dock",
            'sqlite3 /var/lib/videorec-agent/journal.sqlite3 ".backup /backups/agent-dock/journal.sqlite3"',
            "rsync -a --exclude 'journal.sqlite3*' /var/lib/videorec-agent/ /backups/agent-dock/",
            "rsync -a /backups/agent-dock/ /var/lib/videorec-agent/",
        ],
        "tests/e2e/test_agent_storage_backup.py::"
        "test_an_agents_storage_copied_as_documented_serves_its_completed_records",
    ),
}
# Written inline, run by another test.
RUN_ELSEWHERE |= {
    "make image": "tests/deploy/test_image.py::test_make_image_again_after_an_interrupted_build_and_twice_at_once",
    # `make test` (CI's .ci/run) runs it; this test checks that its recipe does.
    "make lint": "tests/test_make_run.py::test_make_run_installs_what_running_needs_and_no_developer_tool",
    "python -m controlplane.schema check": (
        "tests/controlplane/test_migrations.py::test_models_and_migrations_agree"
    ),
    "make docs": (
        "tests/test_settings_doc.py::test_docs_check_fails_on_a_stale_reference_and_passes_on_a_fresh_one"
    ),
    "python -m controlplane": (
        "tests/controlplane/test_backup.py::test_a_backup_made_while_serving_restores_every_row_and_the_agents_key"
    ),
    "videorec-controlplane migrate": (
        "tests/e2e/test_upgrade.py::test_the_previous_release_upgrades_database_first_then_agents"
    ),
    "promtool test rules deploy/prometheus/alerts_test.yml": (
        "tests/deploy/test_alerts.py::test_alert_rules_fire_as_their_tests_say"
    ),
}
# deploy/README.md's compose commands: run as written, `docker compose` by podman-compose as the page says.
RUN_ELSEWHERE |= dict.fromkeys(
    [
        "cd deploy && cp .env.example .env",
        '(set -a; . ./.env; podman run --rm -e VIDEOREC_AGENTS_KEY "$VIDEOREC_IMAGE" videorec-controlplane '
        "enrol-agent agent-1)",
        "podman-compose up -d --no-deps",
        "docker compose exec -T postgres pg_dump -Fc -U videorec videorec >videorec-before-upgrade.dump",
        "docker compose run --rm migrate",
        "docker compose up -d --no-deps --wait controlplane-1 && docker compose up -d --no-deps controlplane-2",
        "docker compose up -d --no-deps agent",
    ],
    "tests/deploy/test_compose.py::test_the_compose_commands_bring_a_site_up_and_upgrade_it",
)
# deploy/README.md's Kubernetes secrets: the files as written; `kubectl create` offline (--dry-run=client).
RUN_ELSEWHERE |= dict.fromkeys(
    [
        "umask 077; mkdir -p secrets/videorec secrets/north",
        "printf %s 'postgresql://videorec:PASSWORD@db.example:5432/videorec' >secrets/videorec/database-url",
        'printf %s "$(openssl rand -hex 32)" >secrets/videorec/api-token',
        'printf %s "$(openssl rand -hex 32)" >secrets/videorec/agents-key',
        "VIDEOREC_AGENTS_KEY=$(cat secrets/videorec/agents-key) podman run --rm -e VIDEOREC_AGENTS_KEY videorec "
        "videorec-controlplane enrol-agent videorec-agent-north-0 | tr -d '\\n' >secrets/north/token",
        "kubectl create namespace videorec",
        "kubectl -n videorec create secret generic videorec --from-file=secrets/videorec",
        "kubectl -n videorec create secret generic videorec-agent-north --from-file=secrets/north",
    ],
    "tests/deploy/test_k8s_secrets.py::test_the_secrets_commands_make_every_key_the_manifests_read",
)
RUN_ELSEWHERE["kubectl kustomize"] = "tests/deploy/test_manifests.py::test_every_kustomization_renders"
# Named for where this suite cannot run it, and why: nothing else may be here.
NO_CLUSTER = (
    "no Kubernetes cluster on the test machine: tests/deploy/test_manifests.py renders the overlay with "
    "`kubectl kustomize` and checks what would be applied"
)
NOT_RUN = {
    "docker build -f Containerfile -t videorec .": (
        "no Docker daemon on the test machine: `make image` builds the same Containerfile with podman"
    ),
    "docker compose up -d": (
        "no Docker daemon on the test machine: tests/deploy/test_compose.py brings the same compose file up "
        "with the page's podman-compose line"
    ),
    "kubectl label node <node next to the cameras> videorec.example/site=north": NO_CLUSTER,
    "kubectl apply -k deploy/k8s/overlays/example": NO_CLUSTER,
    "kubectl -n videorec rollout status deployment/videorec-controlplane": NO_CLUSTER,
    "systemctl enable --now videorec-controlplane": (
        "systemd is not PID 1 on the test machine: tests/deploy/test_manifests.py verifies the units with "
        "`systemd-analyze verify` and `security`"
    ),
    "make deploy-deps": (
        "installs system packages with apt-get; `make test` runs it first, so every CI run does"
    ),
}
# Inline code that is a command: one of these programs and an argument. A span with a placeholder in
# capitals (`enrol-agent NAME --site SITE`) shows a syntax, whose runnable form is in a block.
PROGRAMS = frozenset(
    {"make", "videorec-controlplane", "videorec-agent", "python", "python3", "alembic", "sqlite3", "pg_dump",
     "pg_restore", "createdb", "psql", "promtool", "docker", "podman", "kubectl", "systemctl", "curl",
     "rsync", "ffmpeg", "ffprobe", "openssl", "git"}
)  # fmt: skip
# Run here: the function of this module that runs each one.
RUN_HERE = {
    "videorec-controlplane enrol-agent dock --site north": "test_enrol_agent_prints_a_token",
    "videorec-controlplane user add alice --role operator": "test_the_user_commands_run_as_written",
    "videorec-controlplane user list": "test_the_user_commands_run_as_written",
    "videorec-controlplane user remove alice": "test_the_user_commands_run_as_written",
    "videorec-controlplane user add": "test_the_user_commands_run_as_written",
    "videorec-controlplane enrol-agent north-1 --site north": "test_enrol_agent_prints_a_token",
    "make help": "test_make_help_lists_the_targets_the_docs_name",
    # upgrade.md's first step names them; the blocks above spell them out.
    "videorec-controlplane backup": "test_the_backup_and_restore_commands_run_as_written",
    "pg_dump -Fc": "test_the_postgresql_commands_run_as_written",
    'python -m controlplane.schema revision -m "source rtsp_transport"': (
        "test_the_revision_command_writes_a_revision"
    ),
    "VIDEOREC_DATA_DIR=/var/lib/videorec videorec-controlplane backup /backups/videorec-2026-12-08": (
        "test_the_backup_and_restore_commands_run_as_written"
    ),
    "VIDEOREC_DATA_DIR=/var/lib/videorec videorec-controlplane restore /backups/videorec-2026-12-08": (
        "test_the_backup_and_restore_commands_run_as_written"
    ),
    "videorec-controlplane": "test_the_backup_and_restore_commands_run_as_written",
    "pg_dump -Fc -h db.example -p 5432 -U videorec -d videorec -f videorec.dump": "test_the_postgresql_commands_run_as_written",
    "createdb -h db.example -U videorec videorec_restored": "test_the_postgresql_commands_run_as_written",
    "pg_restore --no-owner -h db.example -p 5432 -U videorec -d videorec_restored videorec.dump": (
        "test_the_postgresql_commands_run_as_written"
    ),
    "VIDEOREC_DATABASE_URL=postgresql://videorec@db.example/videorec_restored videorec-controlplane migrate": (
        "test_the_postgresql_commands_run_as_written"
    ),
}


def blocks(path: Path) -> list[tuple[str, list[str]]]:
    """The `sh` blocks of a Markdown file (indented ones too), each with the heading it is under and
    its commands: continuation lines joined, comments and blank lines dropped."""
    found: list[tuple[str, list[str]]] = []
    heading, block, fence = "", None, ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if block is None:
            if line.startswith("#"):
                heading = line.split("\n")[0]
            elif stripped in ("```sh", "```bash", "```shell", "```console"):
                block, fence = [], line[: len(line) - len(line.lstrip())]
        elif stripped == "```":
            text = "\n".join(block).replace("\\\n", " ")
            found.append((heading, [c for c in map(_command, text.splitlines()) if c]))
            block = None
        else:
            block.append(line.removeprefix(fence))
    assert block is None, f"{path.name}: a fenced block is not closed"
    return found


def _command(line: str) -> str:
    """The command without its trailing comment (two spaces and a #, as the docs write them)."""
    line = re.split(r"\s{2,}#\s", line, maxsplit=1)[0]
    return " ".join(line.split()) if not line.lstrip().startswith("#") else ""


def inline(path: Path) -> list[str]:
    """The commands a Markdown file writes as inline code, outside its fenced blocks."""
    text = re.sub(r"^\s*```.*?^\s*```", "", path.read_text(), flags=re.S | re.M)
    found = []
    for span in re.findall(r"`([^`\n]+)`", text):
        words = span.split()
        if (
            len(words) > 1
            and words[0] in PROGRAMS
            and not any(re.fullmatch(r"[A-Z][A-Z_]+", w) for w in words)
        ):
            found.append(" ".join(words))
    return found


INLINE = "(inline)"


def doc_name(path: Path) -> str:
    """How the lists here name a file: README.md and docs' by name, deploy/README.md by its path."""
    return path.name if path.parent in (ROOT, ROOT / "docs") else str(path.relative_to(ROOT))


def documented() -> list[tuple[str, str, str]]:
    fenced = [
        (doc_name(path), heading, command)
        for path in DOCS
        for heading, commands in blocks(path)
        for command in commands
    ]
    return fenced + [(doc_name(path), INLINE, command) for path in DOCS for command in inline(path)]


def _test_exists(test_id: str) -> bool:
    file, _, name = test_id.partition("::")
    return (ROOT / file).is_file() and f"def {name}(" in (ROOT / file).read_text()


def test_every_documented_command_has_a_runner() -> None:
    commands = documented()
    assert len(commands) > 20, "the extraction found too few commands: has the block syntax changed?"
    orphans = []
    for name, heading, command in commands:
        by_heading = RUN_BY_HEADING.get((name, heading))
        runner = by_heading or RUN_ELSEWHERE.get(command)
        if runner is not None:
            assert _test_exists(runner), f"{runner} (named for {command!r}) does not exist"
        elif command in RUN_HERE:
            assert RUN_HERE[command] in globals(), RUN_HERE[command]
        elif command in NOT_RUN:
            continue
        else:
            orphans.append(f"{name} {heading}: {command}")
    assert not orphans, "documented commands that no test runs:\n" + "\n".join(orphans)
    # A heading run word for word by another test holds one block: that test runs the first only.
    for name, heading in RUN_BY_HEADING:
        path = ROOT / name
        assert [h for h, _ in blocks(path)].count(heading) == 1, (name, heading)
    # Nothing listed that the documentation no longer says (a stale entry hides a missing runner).
    said = {command for _, _, command in commands}
    assert not (set(RUN_ELSEWHERE) | set(RUN_HERE) | set(NOT_RUN)) - said


def commands_of(name: str, *wanted: str) -> list[str]:
    """The documented commands of `name` that start with one of `wanted`, in order."""
    return [c for n, _, c in documented() if n == name and c.startswith(wanted)]


def shell(command: str, cwd: Path, replace: dict[str, str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run `command` as typed (bash, the project's commands on PATH), its placeholders replaced."""
    for placeholder, value in replace.items():
        command = command.replace(placeholder, value)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOREC_")}
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env={**clean, "PATH": f"{VENV_BIN}:{clean['PATH']}", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_enrol_agent_prints_a_token(tmp_path: Path) -> None:
    commands = [*commands_of("operations.md", "videorec-controlplane enrol-agent")]
    commands += commands_of("security.md", "videorec-controlplane enrol-agent")
    assert len(commands) == 2, commands
    for command in commands:
        done = shell(command, tmp_path, {}, VIDEOREC_DATA_DIR=str(tmp_path / "data"))
        assert done.returncode == 0, done.stderr
        token = done.stdout.strip()
        assert len(token) > 40 and " " not in token
    assert (tmp_path / "data" / "agents.key").stat().st_mode & 0o777 == 0o600


def test_make_help_lists_the_targets_the_docs_name(tmp_path: Path) -> None:
    """README: "`make help` lists the other targets (`camera`, `lint`, ...)"."""
    (command, *_) = commands_of("README.md", "make help")
    done = shell(command, ROOT, {})
    assert done.returncode == 0, done.stderr
    listed = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("  make ")}
    readme = (ROOT / "README.md").read_text()
    named = re.search(r"`make help`\s+lists the other targets \(([^)]*)\)", readme)
    assert named is not None
    targets = set(re.findall(r"`([a-z-]+)`", named.group(1)))
    assert len(targets) >= 5 and targets | {"run", "test"} <= listed, (targets, listed)


def test_the_revision_command_writes_a_revision(tmp_path: Path) -> None:
    """docs/architecture.md's way to write a schema revision, run in a copy of the tree (it writes
    into the migrations folder next to the code it runs)."""
    (command,) = commands_of("architecture.md", "python -m controlplane.schema revision")
    for package in ("controlplane", "shared", "agent"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    versions = tmp_path / "controlplane" / "migrations" / "versions"
    before = set(versions.glob("*.py"))
    done = shell(command, tmp_path, {})
    assert done.returncode == 0, done.stderr
    (written,) = set(versions.glob("*.py")) - before
    assert "source rtsp_transport" in written.read_text()
    assert not set((ROOT / "controlplane" / "migrations" / "versions").glob(f"*{written.name[-20:]}"))


@pytest.mark.e2e
def test_the_backup_and_restore_commands_run_as_written(tmp_path: Path) -> None:
    cp = start_controlplane(tmp_path / "site", shared_agent_token=False)
    try:
        with cp.client() as c:
            made = c.post("/api/v1/source", json={"model": "Source", "uri_rtsp": "rtsp://10.0.0.9/s"}).json()
        ours = commands_of("operations.md", "VIDEOREC_DATA_DIR=", "videorec-controlplane")
        (backup,) = [c for c in ours if " backup " in c]
        (restore,) = [c for c in ours if " restore " in c]
        serve = ours[ours.index(restore) + 1]  # the line after the restore starts the service
        done = shell(
            backup,
            tmp_path,
            {"/var/lib/videorec": str(tmp_path / "site" / "cp-data"), "/backups": str(tmp_path / "b")},
        )
        assert done.returncode == 0, done.stderr
    finally:
        cp.stop()
    # On another host: an empty data folder, the restore, then the service as the docs start it.
    fresh = {"/var/lib/videorec": str(tmp_path / "new" / "data"), "/backups": str(tmp_path / "b")}
    done = shell(restore, tmp_path, fresh)
    assert done.returncode == 0, done.stderr
    assert serve == "videorec-controlplane"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOREC_")}
    server = subprocess.Popen(
        ["bash", "-c", f"exec {serve}"],
        cwd=tmp_path,
        env={
            **env,
            "PATH": f"{VENV_BIN}:{env['PATH']}",
            "VIDEOREC_DATA_DIR": fresh["/var/lib/videorec"],
            "VIDEOREC_HTTP_PORT": str(port),
        },
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "served.log").open("wb"),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _status(url + "/readyz") == 200, 60, what="the restored control plane")
        assert httpx.get(f"{url}/api/v1/source/{made['id']}").json()["uri_rtsp"] == "rtsp://10.0.0.9/s"
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


@pytest.mark.postgres
@pytest.mark.e2e
def test_the_postgresql_commands_run_as_written(tmp_path: Path) -> None:
    with postgres_database() as source_url, postgres_database() as spare_url:
        # The documented names stand for the test's own databases: the spare one is dropped first,
        # since the docs make the restored database with createdb.
        source, restored = source_url.rsplit("/", 1)[1], spare_url.rsplit("/", 1)[1]
        with psycopg.connect(source_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{restored}"')
        cp = start_controlplane(tmp_path / "site", source_url)
        try:
            with cp.client() as c:
                made = c.post(
                    "/api/v1/source", json={"model": "Source", "uri_rtsp": "rtsp://10.0.0.9/s"}
                ).json()
        finally:
            cp.stop()
        replace = {
            "-h db.example": "-h 127.0.0.1",
            "-U videorec": "-U postgres",
            "postgresql://videorec@db.example/": "postgresql://postgres@127.0.0.1/",
            "videorec_restored": restored,
            "-d videorec ": f"-d {source} ",
        }
        for command in commands_of(
            "operations.md", "pg_dump", "createdb", "pg_restore", "VIDEOREC_DATABASE_URL="
        ):
            done = shell(command, tmp_path, replace)
            assert done.returncode == 0, (command, done.stderr)
        with psycopg.connect(spare_url) as restored_db:
            row = restored_db.execute(
                "SELECT description, model FROM source WHERE id = %s", (made["id"],)
            ).fetchone()
        assert row == (made["description"], "Source")


def test_the_user_commands_run_as_written(tmp_path: Path) -> None:
    """docs/roles.md: add prints the key once, list shows the user (never the key), remove."""
    add, listing, remove = commands_of("roles.md", "videorec-controlplane user")
    env = {"VIDEOREC_DATA_DIR": str(tmp_path / "data")}
    added = shell(add, tmp_path, {}, **env)
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert key.startswith("vru1.") and len(key) > 60
    listed = shell(listing, tmp_path, {}, **env)
    assert listed.returncode == 0 and listed.stdout.startswith("alice\toperator\t"), listed.stdout
    assert key.rsplit(".", 1)[1] not in listed.stdout + listed.stderr + added.stderr
    removed = shell(remove, tmp_path, {}, **env)
    assert removed.returncode == 0, removed.stderr
    assert shell(listing, tmp_path, {}, **env).stdout == ""
