"""db.Database: group-committed writes where a failing job rolls back alone, gap-free event numbers,
and the schema's forward migrations."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from orchestra.storage.connections import connect
from orchestra.storage.db import Database, WriteJobContext
from orchestra.storage.reads import DatabaseClosed
from orchestra.storage.schema import MIGRATIONS, migrate

WAIT_S = 30


def add_project(project_id: str) -> Callable[[WriteJobContext], str]:
    def job(tx: WriteJobContext) -> str:
        now = time.time()
        tx.execute("INSERT INTO projects (id, name, workspace, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                   [project_id, project_id, "/w", now, now])
        tx.emit("p", "project.added", added=project_id)
        return project_id

    return job


def count(path: Path, sql: str, params: Any = ()) -> int:
    """Read through a connection of its own: it sees only what is committed."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


async def test_failing_job_rolls_back_alone_and_leaves_no_gap_in_seq(tmp_path: Path) -> None:
    path = tmp_path / "orchestra.db"
    seen_in_batch: dict[str, int] = {}

    def failing(tx: WriteJobContext) -> None:
        add_project("bad")(tx)
        tx.emit("p", "project.extra")
        tx.emit("other", "project.extra")
        # The job queued before this one wrote in the same, still uncommitted transaction:
        query = "SELECT count(*) FROM projects WHERE id = 'before'"
        seen_in_batch["before, from inside"] = tx.execute(query).fetchone()[0]
        seen_in_batch["before, from outside"] = count(path, query)
        raise ValueError("boom")

    gate, holding = threading.Event(), threading.Event()

    def hold(tx: WriteJobContext) -> None:
        holding.set()
        gate.wait(WAIT_S)

    outcomes: dict[str, Any] = {}

    async def write(name: str, fn: Callable[[WriteJobContext], Any]) -> None:
        try:
            outcomes[name] = await database.write(fn)
        except ValueError as exc:
            outcomes[name] = exc

    async with Database.open(path) as database:
        with database.bus.subscribe("p", max_pending=math.inf) as published:
            async with trio.open_nursery() as nursery:
                # Hold the writer so the next three jobs queue up and are committed as one batch.
                nursery.start_soon(write, "hold", hold)
                await trio.to_thread.run_sync(holding.wait, WAIT_S)
                for name, job in (("before", add_project("before")), ("bad", failing),
                                  ("after", add_project("after"))):
                    nursery.start_soon(write, name, job)
                    await trio.testing.wait_all_tasks_blocked()
                gate.set()
            assert [e.seq for e in await published.next_batch(100)] == [1, 2]

        assert seen_in_batch == {"before, from inside": 1, "before, from outside": 0}
        assert (outcomes["before"], outcomes["after"]) == ("before", "after")
        assert isinstance(outcomes["bad"], ValueError) and str(outcomes["bad"]) == "boom"
        # the writer carries on, and the numbers continue where the committed ones stopped
        await database.write(lambda tx: tx.emit("p", "project.later"))
        await database.write(lambda tx: tx.emit("other", "project.later"))

        def read(db: Any) -> tuple[list[str], list[tuple[str, int, str]]]:
            projects = [r[0] for r in db.execute("SELECT id FROM projects ORDER BY id")]
            events = db.execute("SELECT project_id, seq, type FROM events ORDER BY project_id, seq").fetchall()
            return projects, events

        projects, events = await database.read(read)
    assert projects == ["after", "before"]
    assert events == [("other", 1, "project.later"), ("p", 1, "project.added"), ("p", 2, "project.added"),
                      ("p", 3, "project.later")]


async def test_failing_job_that_emitted_first_does_not_shift_later_numbers(tmp_path: Path) -> None:
    """Sequential failures, each alone in its transaction: its rows and its numbers are given back."""
    async with Database.open(tmp_path / "orchestra.db") as database:
        for _ in range(5):
            await database.write(lambda tx: tx.emit("p", "ok"))

            def fail(tx: WriteJobContext) -> None:
                tx.emit("p", "lost")
                add_project("lost")(tx)  # were it kept, the next round would fail on its primary key
                tx.emit("p", "lost")
                raise RuntimeError("no")

            with pytest.raises(RuntimeError):
                await database.write(fail)
        seqs = await database.read(lambda db: [r[0] for r in db.execute(
            "SELECT seq FROM events WHERE project_id = 'p' ORDER BY seq")])
        projects = await database.read(lambda db: db.execute("SELECT count(*) FROM projects").fetchone()[0])
    assert seqs == [1, 2, 3, 4, 5]
    assert projects == 0


async def test_sqlite_error_in_a_job_is_raised_to_its_caller(tmp_path: Path) -> None:
    async with Database.open(tmp_path / "orchestra.db") as database:
        await database.write(add_project("one"))
        with pytest.raises(sqlite3.IntegrityError):
            await database.write(add_project("one"))
        assert await database.write(add_project("two")) == "two"
        assert await database.read(lambda db: db.execute("SELECT count(*) FROM projects").fetchone()[0]) == 2


async def test_write_after_close_is_refused(tmp_path: Path) -> None:
    async with Database.open(tmp_path / "orchestra.db") as database:
        pass
    with pytest.raises(DatabaseClosed):
        await database.write(add_project("late"))


async def test_fresh_database_is_migrated_to_the_latest_version_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "orchestra.db"
    async with Database.open(path):
        pass
    assert count(path, "PRAGMA user_version") == len(MIGRATIONS) >= 1
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert {"projects", "nodes", "edges", "agent_templates", "runs", "executions", "events"} <= tables


def test_migrate_twice_is_a_no_op(tmp_path: Path) -> None:
    db = connect(tmp_path / "orchestra.db")
    try:
        assert migrate(db) == len(MIGRATIONS)
        db.execute("INSERT INTO agent_templates (id, name, command, output, created_at) VALUES "
                   "('t', 'T', '[]', 'text', 0)")
        assert migrate(db) == len(MIGRATIONS)
        assert db.execute("SELECT id FROM agent_templates").fetchall() == [("t",)]
    finally:
        db.conn.close()


async def test_database_from_a_newer_orchestra_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "orchestra.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this Orchestra"):
        async with Database.open(path):
            pass
    assert count(path, "SELECT count(*) FROM sqlite_master") == 0  # nothing was created in it


SLOW_READ = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) SELECT count(*) FROM c"
CANCEL_THEN_CLOSE = f"""
import sys, trio
from pathlib import Path
from orchestra.storage.db import Database

async def main() -> None:
    for i in range(30):
        async with Database.open(Path(sys.argv[1]) / f"{{i}}.db") as db:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(db.read, lambda conn: conn.execute({SLOW_READ!r}).fetchall())
                await trio.sleep(0.01)  # the read is on its thread, inside SQLite
                nursery.cancel_scope.cancel()
    print("closed 30 times")

trio.run(main)
"""


def test_closing_right_after_a_cancelled_read_waits_for_its_thread(tmp_path: Path) -> None:
    """A cancelled read is abandoned while SQLite is still running its statement on a worker thread;
    closing the connection under it segfaulted the process (the CI crash in test_hub_feed's
    teardown). In a child process, so that a crash fails this test instead of ending the run."""
    done = subprocess.run([sys.executable, "-c", CANCEL_THEN_CLOSE, str(tmp_path)],
                          capture_output=True, text=True, timeout=WAIT_S * 4)
    assert (done.returncode, done.stdout.strip()) == (0, "closed 30 times"), done.stderr[-2000:]
