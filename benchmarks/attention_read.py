"""The read behind ``GET /attention`` (orchestra/storage/attention.py) on a big database: 100 projects, 10,000
runs (1,000 failed, 200 of them not marked seen), 100,000 executions (100 waiting). Prints the item count
and the median and worst of 30 reads. ``python -m benchmarks.attention_read``."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import sqlite_utils

from orchestra.storage import attention, schema


def build(path: Path) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    schema.migrate(db)
    now = time.time()
    conn = db.conn
    conn.execute("BEGIN")
    for p in range(100):
        conn.execute("INSERT INTO projects (id, name, description, workspace, created_at, updated_at) "
                     "VALUES (?, ?, '', '/tmp', ?, ?)", [f"prj_{p}", f"p{p}", now, now])
    num = 0
    for r in range(10_000):
        failed = r % 10 == 0
        conn.execute("INSERT INTO runs (id, project_id, status, created_at, started_at, finished_at, seen_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", [f"run_{r}", f"prj_{r % 100}", "failed" if failed else "succeeded",
                                                     now - 10_000 + r, now, now, None if r % 50 == 0 else now])
        for e in range(10):
            num += 1
            status = "waiting" if r >= 9_900 and e == 9 else "failed" if failed and e == 0 else "succeeded"
            conn.execute("INSERT INTO executions (num, id, project_id, run_id, node_id, status, agent, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, 'claude-code', ?)",
                         [num, f"exe_{num}", f"prj_{r % 100}", f"run_{r}", f"n{e}", status, now])
    conn.execute("COMMIT")
    return db


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = build(Path(tmp) / "attention.db")
        times = []
        for _ in range(30):
            started = time.perf_counter()
            items = attention.list_items(db)
            times.append(time.perf_counter() - started)
        print(f"{len(items)} items; list_items median {statistics.median(times) * 1000:.1f} ms, "
              f"max {max(times) * 1000:.1f} ms (30 reads)")


if __name__ == "__main__":
    main()
