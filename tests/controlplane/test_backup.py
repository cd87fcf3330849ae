"""`videorec-controlplane backup` / `restore`: a backup made while the control plane serves (and
writes) restores every row and the agents key into a fresh data folder, where an agent enrolled before
still joins; files stay private; a live database, a used backup folder or a changed file is refused;
on PostgreSQL the commands name pg_dump and pg_restore, and what they name works."""

from __future__ import annotations

import os
import shlex
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from controlplane import backup
from controlplane.local_keys import read_or_make
from controlplane.settings import Settings
from videorec_testing.db import postgres_database
from videorec_testing.processes import ControlPlane, start_agent, start_controlplane, wait_agent_online


def cli(command: str, path: Path, data: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The command as an admin types it: only the data folder (and what `env` adds) configured."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOREC_")}
    return subprocess.run(
        [sys.executable, "-m", "controlplane", command, str(path)],
        env={**clean, "VIDEOREC_DATA_DIR": str(data), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def enrol(data: Path, name: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOREC_")}
    done = subprocess.run(
        [sys.executable, "-m", "controlplane", "enrol-agent", name],
        env={**clean, "VIDEOREC_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def add_site(cp: ControlPlane, sources: int) -> None:
    with cp.client() as c:
        group = c.post("/api/v1/group", json={"name": "North gate"}).json()
        for n in range(sources):
            body = {"model": "Source", "description": f"cam {n}", "uri_rtsp": f"rtsp://10.0.0.{n + 1}/s"}
            source = c.post("/api/v1/source", json=body).json()
            assert c.post(f"/api/v1/group/{group['id']}/source/{source['id']}").json() is True


def listed(cp: ControlPlane) -> tuple[list[dict], list[dict]]:
    with cp.client() as c:
        sources = c.get("/api/v1/source").json()
        groups = [c.get(f"/api/v1/group/{g['id']}").json() for g in c.get("/api/v1/group").json()]
    return sources, groups


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.e2e
def test_a_backup_made_while_serving_restores_every_row_and_the_agents_key(tmp_path: Path) -> None:
    site, fresh = tmp_path / "site", tmp_path / "fresh"
    data, copy = site / "cp-data", tmp_path / "backup"
    cp = start_controlplane(site, shared_agent_token=False)
    try:
        token = enrol(data, "gate")
        add_site(cp, 3)
        before = listed(cp)
        # The control plane keeps writing while the backup reads: the copy is one snapshot of it.
        stop = threading.Event()

        def write() -> None:
            with cp.client() as c:
                n = 0
                while not stop.is_set():
                    n += 1
                    c.post(
                        "/api/v1/source", json={"model": "Source", "uri_rtsp": f"rtsp://10.1.0.{n % 250}/w"}
                    )

        writer = threading.Thread(target=write)
        writer.start()
        try:
            done = cli("backup", copy, data)
        finally:
            stop.set()
            writer.join()
        assert done.returncode == 0, done.stderr
        assert token not in done.stdout + done.stderr
    finally:
        cp.stop()

    assert mode(copy) == 0o700
    # The keys of the data folder: the agents key and the secrets key that sealed the camera URLs.
    names = sorted(p.name for p in copy.iterdir())
    assert names == ["MANIFEST.json", "agents.key", "secrets.key", "videorec.db"]
    assert all(mode(p) == 0o600 for p in copy.iterdir())
    # A restore goes into a data folder without a database, here a fresh one; it brings the key.
    restored = fresh / "cp-data"
    done = cli("restore", copy, restored)
    assert done.returncode == 0, done.stderr
    assert mode(restored) == 0o700
    assert (restored / "agents.key").read_bytes() == (data / "agents.key").read_bytes()
    assert mode(restored / "agents.key") == mode(restored / "videorec.db") == 0o600

    cp = start_controlplane(fresh, shared_agent_token=False)
    try:
        sources, groups = listed(cp)
        assert sources[: len(before[0])] == before[0]
        assert groups == before[1]
        # What the writer added made it in as a whole prefix: rows up to the snapshot, none after.
        ids = [s["id"] for s in sources]
        assert ids == list(range(1, len(ids) + 1))
        agent = start_agent(tmp_path, cp, name="gate", token=token)
        try:
            wait_agent_online(cp, "gate")
            assert "401 Unauthorized" not in agent.log()  # (a port may contain 401)
        finally:
            agent.stop()
    finally:
        cp.stop()


def sqlite_site(data: Path) -> Settings:
    """A data folder with a small database and an agents key, as a control plane leaves it."""
    data.mkdir(parents=True)
    with sqlite3.connect(data / "videorec.db") as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE source (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO source (name) VALUES ('gate')")
    db.close()
    read_or_make(data / "agents.key")
    return Settings(data_dir=data)


def test_backup_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    settings = sqlite_site(tmp_path / "data")
    empty = tmp_path / "given"
    empty.mkdir(mode=0o755)
    old = os.umask(0o022)
    try:
        backup.backup(settings, empty)
        backup.backup(settings, tmp_path / "new" / "backup")
        restored = Settings(data_dir=tmp_path / "restored")
        backup.restore(restored, empty)
    finally:
        os.umask(old)
    for folder in (empty, tmp_path / "new" / "backup", restored.data_dir):
        assert mode(folder) == 0o700
        assert {mode(p) for p in folder.iterdir()} == {0o600}, folder
    with sqlite3.connect(restored.data_dir / "videorec.db") as db:
        assert db.execute("SELECT name FROM source").fetchall() == [("gate",)]


def test_restore_refuses_a_data_folder_that_holds_a_database(tmp_path: Path) -> None:
    settings = sqlite_site(tmp_path / "data")
    assert cli("backup", tmp_path / "backup", settings.data_dir).returncode == 0
    live = (settings.data_dir / "videorec.db").read_bytes()
    done = cli("restore", tmp_path / "backup", settings.data_dir)
    assert done.returncode == 2
    assert "already holds a database" in done.stderr and "nothing was changed" in done.stderr
    assert (settings.data_dir / "videorec.db").read_bytes() == live


def test_restore_refuses_another_agents_key_and_changes_nothing(tmp_path: Path) -> None:
    settings = sqlite_site(tmp_path / "data")
    backup.backup(settings, tmp_path / "backup")
    other = tmp_path / "other"
    read_or_make(other / "agents.key")  # e.g. an `enrol-agent` run there before the restore
    with pytest.raises(backup.BackupRefusedError, match="differs from the backup"):
        backup.restore(Settings(data_dir=other), tmp_path / "backup")
    assert sorted(p.name for p in other.iterdir()) == ["agents.key"]


def test_backup_refuses_an_existing_non_empty_path(tmp_path: Path) -> None:
    settings = sqlite_site(tmp_path / "data")
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    done = cli("backup", used, settings.data_dir)
    assert done.returncode == 2 and "not an empty directory" in done.stderr
    assert [p.name for p in used.iterdir()] == ["notes.txt"]
    assert cli("backup", used / "notes.txt", settings.data_dir).returncode == 2


def test_restore_refuses_a_backup_whose_files_changed(tmp_path: Path) -> None:
    settings = sqlite_site(tmp_path / "data")
    backup.backup(settings, tmp_path / "backup")
    with (tmp_path / "backup" / "videorec.db").open("ab") as db:
        db.write(b"\0")
    done = cli("restore", tmp_path / "backup", tmp_path / "fresh")
    assert done.returncode == 2 and "differs from the backup's manifest" in done.stderr
    assert not (tmp_path / "fresh").exists()
    assert cli("restore", tmp_path / "nothing", tmp_path / "fresh").returncode == 2


def test_on_postgresql_the_commands_print_pg_tools_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://videorec:s3cret-pw@db.example:5433/videorec"
    for command, tool in (("backup", "pg_dump -Fc"), ("restore", "pg_restore --no-owner")):
        done = cli(command, tmp_path / "backup", tmp_path / "data", VIDEOREC_DATABASE_URL=url)
        assert done.returncode == 2
        assert tool in done.stderr and "-h db.example -p 5433 -U videorec" in done.stderr
        assert "s3cret-pw" not in done.stdout + done.stderr
    assert not (tmp_path / "backup").exists() and not (tmp_path / "data").exists()


@pytest.mark.postgres
@pytest.mark.e2e
def test_the_printed_pg_dump_and_pg_restore_commands_restore_a_site(tmp_path: Path) -> None:
    with postgres_database() as source_url, postgres_database() as target_url:
        cp = start_controlplane(tmp_path / "a", database_url=source_url)
        try:
            add_site(cp, 2)
            before = listed(cp)
            advice = cli("backup", tmp_path / "x", tmp_path / "x", VIDEOREC_DATABASE_URL=source_url)
            assert advice.returncode == 2
            dump = shlex.split(advice.stderr.strip().splitlines()[-1])
            assert dump[:2] == ["pg_dump", "-Fc"]
            subprocess.run(dump, cwd=tmp_path, check=True, timeout=120)
        finally:
            cp.stop()
        advice = cli("restore", tmp_path / "x", tmp_path / "x", VIDEOREC_DATABASE_URL=target_url)
        assert advice.returncode == 2
        pg_restore = shlex.split(advice.stderr.strip().splitlines()[-1])
        target = target_url.rsplit("/", 1)[1]
        pg_restore = [target if arg == "NEW_DATABASE" else arg for arg in pg_restore]
        subprocess.run(pg_restore, cwd=tmp_path, check=True, timeout=120)
        cp = start_controlplane(tmp_path / "b", database_url=target_url)
        try:
            assert listed(cp) == before
        finally:
            cp.stop()
