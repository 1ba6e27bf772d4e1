"""``python orchestra.py backup FILE``: a consistent copy while the hub runs and writes, that a hub
starts on; and the copy's own rules (never overwrite, verify, single file, nothing left on failure)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from conftest import TOKEN, FakeAgents
from hubproc import ENTRY, hub_env, hub_process, wait_for_event
from test_shutdown import launch_one, read_db, stop

from orchestra.storage.backup import BackupError, backup_database


def run_backup(db: Path, target: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRA_")}
    env["ORCHESTRA_DATABASE_URL"] = f"sqlite:///{db}"
    return subprocess.run([sys.executable, str(ENTRY), "backup", str(target)],
                          env=env, capture_output=True, text=True, timeout=60)


async def test_backup_while_the_hub_writes_and_a_hub_starts_on_the_copy(tmp_path: Path, agents: FakeAgents) -> None:
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"))
    db = tmp_path / "orchestra.db"
    copies = [tmp_path / f"copy{i}.db" for i in range(3)]
    release = tmp_path / "release"
    async with hub_process(env) as hub:
        # An agent that prints a line every 2 ms until the test releases it, after the backups: the hub
        # stores events all along the copies, however slow the machine.
        launched = await launch_one(hub, f"@lines=100 @delay=0.002 @until={release}", name="backed up")
        await wait_for_event(hub, launched["project_id"], lambda e: e["type"] == "execution.output")
        for copy in copies:
            done = await trio.to_thread.run_sync(run_backup, db, copy)
            assert done.returncode == 0, done.stderr
            assert "integrity ok" in done.stdout
        async with hub.http() as http:
            run = (await http.get(f"/runs/{launched['run_id']}")).json()
        assert run["status"] == "running", "the agent streams until released: the run cannot have ended"
        release.touch()
        finished = await wait_for_event(hub, launched["project_id"], lambda e: e["type"] == "run.finished")
        assert finished["run"]["status"] == "succeeded", finished
        await stop(hub)

    assert_good_copies(copies)

    # The copy is a working database: a hub starts on it and serves the project and its history.
    restored_env = env | {"ORCHESTRA_DATABASE_URL": f"sqlite:///{copies[-1]}"}
    async with hub_process(restored_env) as restored:
        async with restored.http() as http:
            projects = (await http.get("/projects")).json()["projects"]
            assert [p["name"] for p in projects] == ["backed up"], projects
            execution = (await http.get(f"/executions/{launched['executions'][0]['id']}")).json()
        assert execution["status"] == "interrupted"  # it was running when copied; the hub says so
        await stop(restored)


def assert_good_copies(copies: list[Path]) -> None:
    """Each copy is intact and one self-contained file; later copies hold at least as many events."""
    counts = [read_db(copy, "SELECT count(*) FROM events")[0][0] for copy in copies]
    assert counts == sorted(counts) and counts[0] > 0, counts
    for copy in copies:
        assert read_db(copy, "PRAGMA integrity_check") == [("ok",)]
        assert not Path(f"{copy}-wal").exists()


def make_db(path: Path, rows: int = 100) -> sqlite3.Connection:
    """A WAL database with a connection left open, as the running hub keeps it."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (x INTEGER, pad TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" * 200) for i in range(rows)])
    conn.commit()
    return conn


def test_copy_is_one_verified_file(tmp_path: Path) -> None:
    conn = make_db(tmp_path / "o.db")
    copy = backup_database(tmp_path / "o.db", tmp_path / "copy.db")
    conn.close()
    assert copy == tmp_path / "copy.db"
    assert read_db(copy, "SELECT count(*) FROM t") == [(100,)]
    assert read_db(copy, "PRAGMA journal_mode") == [("delete",)]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("copy")) == ["copy.db"]


def test_never_overwrites_unless_forced(tmp_path: Path) -> None:
    conn = make_db(tmp_path / "o.db")
    target = tmp_path / "precious.db"
    target.write_bytes(b"not to be lost")
    with pytest.raises(BackupError, match="exists"):
        backup_database(tmp_path / "o.db", target)
    assert target.read_bytes() == b"not to be lost"
    backup_database(tmp_path / "o.db", target, force=True)
    conn.close()
    assert read_db(target, "SELECT count(*) FROM t") == [(100,)]


def test_cli_refuses_to_overwrite(tmp_path: Path) -> None:
    make_db(tmp_path / "o.db").close()
    target = tmp_path / "precious.db"
    target.write_bytes(b"keep")
    done = run_backup(tmp_path / "o.db", target)
    assert done.returncode == 1 and "exists" in done.stderr
    assert target.read_bytes() == b"keep"


def test_directory_target_gets_a_dated_name(tmp_path: Path) -> None:
    make_db(tmp_path / "o.db").close()
    (tmp_path / "backups").mkdir()
    copy = backup_database(tmp_path / "o.db", tmp_path / "backups")
    assert copy.parent == tmp_path / "backups" and copy.name.startswith("orchestra-")


def test_missing_database_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    done = run_backup(tmp_path / "typo.db", tmp_path / "copy.db")
    assert done.returncode == 1 and "no database" in done.stderr
    assert not (tmp_path / "typo.db").exists() and not (tmp_path / "copy.db").exists()


def test_a_corrupt_database_leaves_nothing_behind(tmp_path: Path) -> None:
    make_db(tmp_path / "o.db", rows=2000).close()
    with open(tmp_path / "o.db", "r+b") as file:  # scribble over a table page (page 5)
        file.seek(4 * 4096 + 100)
        file.write(os.urandom(2000))
    with pytest.raises(BackupError):
        backup_database(tmp_path / "o.db", tmp_path / "copy.db")
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("o.db")] == []
