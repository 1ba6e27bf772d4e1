"""The project grid: nodes (rows, in DAG order) x a page of runs (columns), each cell what that node did in
that run — the status of its last execution there, and how many executions it took (retries, repairs and
candidates are executions of the same node in the same run).

One query for the page of runs and one for their executions, whatever the page's size: the UI draws a
100-node x 50-run grid from a single answer (GET /projects/{id}/grid).
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from orchestra.storage import history, store
from orchestra.storage.db import fetch_rows

Row = dict[str, Any]


def dag_order(nodes: list[Row]) -> list[Row]:
    """Nodes upstream first, in creation order otherwise: each node comes right after what it waits for
    (a depth-first walk), so a chain reads as consecutive rows and the rows keep their place run to run."""
    by_id = {node["id"]: node for node in nodes}
    placed: set[str] = set()
    ordered: list[Row] = []
    entered: set[str] = set()  # on the walk's path: never entered twice, so even a cycle cannot loop
    for root in nodes:
        stack: list[tuple[str, int]] = [(root["id"], 0)]  # iterative: a 3,000-node chain is no recursion limit
        while stack:
            node_id, index = stack.pop()
            if node_id in placed:
                continue
            entered.add(node_id)
            upstream = [d for d in by_id[node_id]["depends_on"] if d in by_id]
            if index < len(upstream):
                stack.append((node_id, index + 1))
                if upstream[index] not in entered:
                    stack.append((upstream[index], 0))
                continue
            placed.add(node_id)
            ordered.append(by_id[node_id])
    return ordered


def project_grid(db: sqlite_utils.Database, project_id: str, runs: int, before: str | None) -> Row:
    """``runs`` runs before the run ``before`` (newest first from the hub; the UI draws them oldest left)."""
    nodes = store.list_nodes(db, project_id)
    page, next_before = history.list_runs(db, project_id, runs, before)
    cells: dict[str, dict[str, Row]] = {run["id"]: {} for run in page}
    if page:
        marks = ",".join("?" for _ in page)
        rows = fetch_rows(db, f"SELECT id, run_id, node_id, status, attempt, candidate, created_at FROM executions "
                          f"WHERE run_id IN ({marks}) ORDER BY num", [run["id"] for run in page])
        for row in rows:
            cell = cells[row["run_id"]].get(row["node_id"])
            count = cell["executions"] + 1 if cell else 1
            cells[row["run_id"]][row["node_id"]] = {"execution_id": row["id"], "status": row["status"],
                                                    "attempt": row["attempt"], "executions": count}
    columns = [{"id": run["id"], "status": run["status"], "created_at": run["created_at"],
                "started_at": run.get("started_at"), "finished_at": run.get("finished_at"),
                "trigger": run.get("trigger"), "scope": run["scope"], "cells": cells[run["id"]]} for run in page]
    return {"project_id": project_id,
            "nodes": [{"id": n["id"], "title": n["title"], "kind": n.get("kind", "agent")} for n in dag_order(
                [dict(node) for node in nodes])],
            "runs": columns, "next_before": next_before}
