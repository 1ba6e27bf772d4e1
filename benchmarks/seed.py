"""Fill a database directly through SQLite, fast, in the hub's own schema (``orchestra.schema.migrate``).

Rows look like the hub's: the same columns, realistic sizes (a prompt of a few hundred bytes, an
argv, a result, event bodies built by ``orchestra.events.build_event``). Only the hub's migrations
create tables, so the seed follows the schema as it changes.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlite_utils

from orchestra.storage.events import build_event, encode
from orchestra.storage.schema import migrate

PROMPT = ("Read the module, list what it does and what it should do, then make the smallest change that fixes "
          "the failing test; explain the change in two sentences. ") * 3
RESULT = "Done: the parser now keeps the last line when the stream ends without a newline. Tests pass."


def open_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(sqlite_utils.Database(conn))
    conn.execute("PRAGMA synchronous = OFF")
    return conn


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    conn.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [[row[c] for c in columns] for row in rows])


def projects(conn: sqlite3.Connection, count: int, workspaces: Path, prefix: str = "prj_seed") -> list[str]:
    now = time.time()
    ids = [f"{prefix}{i:06d}" for i in range(count)]
    conn.execute("BEGIN")
    _insert(conn, "projects", [
        {"id": pid, "name": f"project {i}", "description": "seeded", "workspace": str(workspaces / pid),
         "max_parallel": None, "created_at": now + i * 1e-6, "updated_at": now} for i, pid in enumerate(ids)])
    conn.execute("COMMIT")
    return ids


def layered_nodes(conn: sqlite3.Connection, project_id: str, count: int, layers: int = 10,
                  fan_in: int = 2, agent: str = "claude-code") -> None:
    """``count`` nodes in ``layers`` layers; each node depends on ``fan_in`` nodes of the layer above."""
    now = time.time()
    width = count // layers
    rng = random.Random(1)
    nodes, edges = [], []
    for i in range(count):
        layer = i // width
        nodes.append({"project_id": project_id, "id": f"n{i}", "title": f"Task {i}", "prompt": PROMPT,
                      "agent": agent, "model": None, "timeout_s": None, "retries": 0,
                      "position": json.dumps({"x": (i % width) * 180.0, "y": layer * 120.0}),
                      "created_at": now + i * 1e-6, "updated_at": now})
        if layer:
            for up in rng.sample(range((layer - 1) * width, layer * width), min(fan_in, width)):
                edges.append({"project_id": project_id, "node_id": f"n{i}", "depends_on": f"n{up}"})
    conn.execute("BEGIN")
    _insert(conn, "nodes", nodes)
    _insert(conn, "edges", edges)
    conn.execute("COMMIT")


def executions(conn: sqlite3.Connection, project_ids: list[str], count: int, per_run: int = 10) -> list[str]:
    """``count`` finished executions spread over the projects, ``per_run`` per run; returns their ids."""
    now = time.time() - count
    ids = []
    conn.execute("BEGIN")
    runs, rows = [], []
    for i in range(count):
        project_id = project_ids[(i // per_run) % len(project_ids)]
        run_id = f"run_seed{i // per_run:07d}"
        if i % per_run == 0:
            runs.append({"id": run_id, "project_id": project_id, "status": "succeeded", "node_ids": None,
                         "created_at": now + i, "started_at": now + i, "finished_at": now + i + per_run})
        execution_id = f"exe_seed{i:08d}"
        ids.append(execution_id)
        rows.append({
            "id": execution_id, "project_id": project_id, "run_id": run_id, "node_id": f"n{i % per_run}",
            "attempt": 1, "status": "succeeded", "agent": "claude-code", "model": "claude-sonnet-4-5",
            "prompt": PROMPT, "argv": json.dumps(["claude", "-p", PROMPT, "--output-format", "stream-json"]),
            "workspace": f"/srv/workspaces/{project_id}", "pid": 10_000 + i % 50_000, "exit_code": 0,
            "error": None, "result_text": RESULT, "session_id": f"5e55{i:032x}"[:36], "input_tokens": 12_345,
            "output_tokens": 678, "cost_usd": 0.0421, "stderr": "", "created_at": now + i,
            "started_at": now + i + 0.1, "finished_at": now + i + 30})
        if len(rows) >= 10_000:
            _insert(conn, "runs", runs)
            _insert(conn, "executions", rows)
            runs, rows = [], []
    _insert(conn, "runs", runs)
    _insert(conn, "executions", rows)
    conn.execute("COMMIT")
    return ids


def events(conn: sqlite3.Connection, project_ids: list[str], execution_ids: list[str], count: int) -> None:
    """``count`` agent-output events, spread evenly over the projects, seq 1.. in each."""
    per_project = count // len(project_ids)
    text = {"kind": "text", "text": "I will read the failing test first, then the parser module."}
    conn.execute("BEGIN")
    batch = []
    for p, project_id in enumerate(project_ids):
        for seq in range(1, per_project + 1):
            execution_id = execution_ids[(p * per_project + seq) % len(execution_ids)]
            body = encode(build_event(seq, project_id, "execution.output", run_id="run_seed", node_id="n1",
                                      execution_id=execution_id, output=text))
            batch.append((project_id, seq, execution_id, "execution.output", body))
        if len(batch) >= 50_000:
            conn.executemany("INSERT INTO events (project_id, seq, execution_id, type, body) VALUES (?,?,?,?,?)",
                             batch)
            batch = []
    conn.executemany("INSERT INTO events (project_id, seq, execution_id, type, body) VALUES (?,?,?,?,?)", batch)
    conn.execute("COMMIT")
