"""In-process micro-measurements behind the findings in docs/PERFORMANCE.md (CPU time, so that they hold
up on a busy machine). Not part of ``benchmarks.run``; they use the hub's internals and sketch the
proposed fixes next to the current code.

    .venv/bin/python -m benchmarks.micro
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import trio

from orchestra.storage import history, store
from orchestra.storage.connections import connect
from orchestra.storage.db import WriteJobContext
from orchestra.storage.events import Sequencer, StoredEvent
from orchestra.storage.schema import migrate

from . import seed


def _cpu_us(fn: Callable[[], object], repeat: int, per: int = 1) -> float:
    fn()
    started = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - started) / repeat / per * 1e6


def thread_hop() -> None:
    async def main() -> None:
        n = 3000
        started = time.process_time()
        for _ in range(n):
            await trio.to_thread.run_sync(lambda: None)
        hop = (time.process_time() - started) / n * 1e6
        print(f"trio.to_thread.run_sync round trip            {hop:8.1f} us CPU")

    trio.run(main)
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(Path(tmp) / "x.db")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE t (a, b)")

        def tiny() -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t VALUES (?, ?)", [1, "x" * 300])
            db.execute("COMMIT")

        print(f"one-row write transaction (WAL, NORMAL)       {_cpu_us(tiny, 3000):8.1f} us CPU")
        db.conn.close()


def emit() -> None:
    """The writer's cost per agent event: WriteJobContext.emit per event vs one prefix-encoded executemany."""
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(Path(tmp) / "x.db")
        db.execute("PRAGMA journal_mode = WAL")
        migrate(db)
        db.execute("INSERT INTO projects (id, name, workspace, created_at, updated_at) VALUES ('p','p','/w',0,0)")
        ids = {"run_id": "run_0123456789ab", "node_id": "a3", "execution_id": "exe_0123456789ab"}
        outputs = [{"kind": "text", "text": f"bench 3 {i} 1732560000123456789"} for i in range(300)]
        sequencer = Sequencer()
        encode = json.JSONEncoder(separators=(",", ":")).encode

        def current() -> None:  # what orchestra.transitions.store_outputs does, 20 jobs in one transaction
            db.execute("BEGIN IMMEDIATE")
            for _ in range(20):
                tx = WriteJobContext(db, sequencer)
                db.execute("SAVEPOINT job")
                for output in outputs:
                    tx.emit("p", "execution.output", **ids, output=output)
                db.execute("RELEASE job")
            db.execute("COMMIT")

        def batched() -> None:  # proposed: shared prefix encoded once, one executemany per job
            db.execute("BEGIN IMMEDIATE")
            for _ in range(20):
                db.execute("SAVEPOINT job")
                first = sequencer.next(db, "p")
                prefix = (f',"ts":{time.time()!r},"type":"execution.output","project_id":"p",'
                          f'"run_id":"{ids["run_id"]}","node_id":"{ids["node_id"]}",'
                          f'"execution_id":"{ids["execution_id"]}","output":')
                rows, events = [], []
                for i, output in enumerate(outputs):
                    seq = first + i
                    body = f'{{"seq":{seq}{prefix}{encode(output)}}}'
                    rows.append(("p", seq, ids["execution_id"], "execution.output", body))
                    events.append(StoredEvent("p", seq, body))
                sequencer._last["p"] = first + len(outputs) - 1
                db.conn.executemany(
                    "INSERT INTO events (project_id, seq, execution_id, type, body) VALUES (?, ?, ?, ?, ?)", rows)
                db.execute("RELEASE job")
            db.execute("COMMIT")

        print(f"writer, tx.emit per event (current)           {_cpu_us(current, 10, 6000):8.2f} us CPU per event")
        print(f"writer, prefix + executemany (proposed)       {_cpu_us(batched, 10, 6000):8.2f} us CPU per event")
        db.conn.close()


def listings() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.db"
        conn = seed.open_db(path)
        ids = seed.projects(conn, 100, Path(tmp))
        seed.layered_nodes(conn, ids[0], 1000)
        seed.executions(conn, ids, 100_000)
        conn.close()
        db = connect(path)
        nodes = store.list_nodes(db, ids[0])
        rows, _ = history.list_executions(db, {}, 100, None)
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        body = dumps({"nodes": nodes})
        positions = ['{"x":1.0,"y":2.0}'] * 1000
        report = [
            ("store.list_nodes, 1,000 nodes", lambda: store.list_nodes(db, ids[0]), 20),
            (f"json encode of it ({len(body) // 1024} KB)", lambda: dumps({"nodes": nodes}), 20),
            ("  list_nodes part: json.loads(position) x 1,000", lambda: [json.loads(p) for p in positions], 20),
            ("history.list_executions, limit 100", lambda: history.list_executions(db, {}, 100, None), 50),
            ("json encode of it", lambda: dumps({"executions": rows}), 50),
        ]
        for label, fn, repeat in report:
            print(f"{label:<46}{_cpu_us(fn, repeat) / 1000:8.2f} ms CPU")
        db.conn.close()


def concurrent_reads() -> None:
    """Why Database.read runs one read at a time: the sqlite3 module releases the GIL around each row it
    steps through, so readers on several threads trade the GIL per row."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.db"
        conn = seed.open_db(path)
        seed.executions(conn, seed.projects(conn, 100, Path(tmp)), 100_000)
        conn.close()
        per_thread = 300

        def reader() -> None:
            db = connect(path)
            for _ in range(per_thread):
                db.execute("BEGIN")
                history.list_executions(db, {}, 100, None)
                db.execute("COMMIT")
            db.conn.close()

        for threads in (1, 2, 4):
            workers = [threading.Thread(target=reader) for _ in range(threads)]
            started = time.process_time()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            cpu = (time.process_time() - started) / (per_thread * threads) * 1000
            print(f"list_executions (100 rows), {threads} thread(s) at once     {cpu:8.2f} ms CPU per read")


def log_line() -> None:
    """One journal line of the hub (structlog's processors over a stdlib logger), ids bound and extra."""
    import io
    import logging

    from orchestra.core.logging_setup import configure_logging, log_context

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(stream=io.StringIO())
    log = logging.getLogger("orchestra.runtime.driver")
    extra = {"node_id": "n", "execution_id": "exe_1", "status": "failed", "exit_code": 1, "error": "boom"}
    try:
        with log_context(project_id="prj_1", run_id="run_2"):
            cpu = _cpu_us(lambda: log.info("execution finished", extra=extra), 5000)
    finally:
        root.handlers, root.level = handlers, level
    print(f"one key=value log line (structlog)             {cpu:8.1f} us CPU")


if __name__ == "__main__":
    log_line()
    thread_hop()
    emit()
    listings()
    concurrent_reads()
