"""State transitions of runs and executions, each one write transaction that also emits its event.

Every state change of the hub goes through this module, or through :mod:`orchestra.storage.definitions`
(projects, nodes, templates, triggers: what people define; the reason is at its top). These run in the
database writer's thread (see :mod:`orchestra.storage.db`); the project actor (its run driver, and the
best-of-N and plan nodes it runs) is their only caller, which is what makes it the single writer of its
project's run state, and :func:`queue_executions` is the one way an execution comes to be. Recovery at
start-up (:func:`finish_interrupted`, :func:`abandon_run`) runs before any actor.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, cast

from orchestra.core.errors import NotFound
from orchestra.core.rows import ExecutionSummary, LaunchedRun, Node
from orchestra.core.statuses import (
    HELD_EXECUTION_STATUSES,
    UNFINISHED_EXECUTION_STATUSES,
    UNFINISHED_RUN_STATUSES,
    EventType,
    ExecutionStatus,
    NodeKind,
    RunStatus,
    sql_list,
)
from orchestra.storage import attention, history, store
from orchestra.storage.db import WriteJobContext, fetch_rows

# What an execution event carries: the keys of rows.ExecutionSummary, in their order.
SUMMARY_KEYS = tuple(ExecutionSummary.__annotations__)


_SUMMARY_COLUMNS = ", ".join(SUMMARY_KEYS)
_NEVER_STARTED = f"SELECT id FROM executions WHERE run_id = ? AND status = '{ExecutionStatus.QUEUED}'"
_UNFINISHED_OF_RUN = ("SELECT id FROM executions WHERE run_id = ? AND status IN "
                      f"{sql_list(UNFINISHED_EXECUTION_STATUSES)}")


def summary(row: dict[str, Any]) -> ExecutionSummary:
    return cast(ExecutionSummary, {key: row.get(key) for key in SUMMARY_KEYS})


def candidate_fields(node: Node, number: int) -> dict[str, Any]:
    """Which candidate an execution of a best-of-N node is, and its agent (orchestra/runtime/candidates.py)."""
    candidates = node.get("candidates")
    if not candidates:
        return {}
    return {"candidate": number} | ({"agent": candidates[number - 1]} if isinstance(candidates, list) else {})


def execution_row(project_id: str, run_id: str, node: Node, attempt: int,
                   parent: str | None = None) -> dict[str, Any]:
    return {
        "id": store.new_id("exe"), "project_id": project_id, "run_id": run_id, "node_id": node["id"],
        "attempt": attempt, "status": ExecutionStatus.QUEUED,
        # a gate's execution: agent "gate"; a land node's: agent "land"
        "agent": node.get("agent") or (NodeKind.LAND if node.get("kind") == NodeKind.LAND else NodeKind.GATE),
        "model": node.get("model"),
        "parent_execution_id": parent, "created_at": time.time(),
        **candidate_fields(node, 1),
    }


def insert_run(tx: WriteJobContext, project_id: str, nodes: list[Node], *, node_ids: list[str] | None,
               budget: dict[str, Any] | None, parent_execution_id: str | None = None,
               inputs: dict[str, str] | None = None, trigger: dict[str, Any] | None = None,
               claim: Callable[[WriteJobContext, str], None] | None = None) -> LaunchedRun:
    """Store a new run and its queued executions; ``claim`` (a schedule's tick) runs in the same
    transaction and may refuse the run."""
    now = time.time()
    run: dict[str, Any] = {"id": store.new_id("run"), "project_id": project_id, "status": RunStatus.RUNNING,
           "node_ids": json.dumps(node_ids) if node_ids else None, "created_at": now, "started_at": now,
           "budget": json.dumps(budget) if budget else None, "inputs": json.dumps(inputs) if inputs else None,
           "trigger": json.dumps(trigger) if trigger else None}
    if claim is not None:
        claim(tx, run["id"])
    tx.db.table("runs").insert(run)
    rows = [execution_row(project_id, run["id"], node, 1, parent_execution_id) for node in nodes]
    queue_executions(tx, project_id, run["id"], rows, starts_run=True)
    return {"run_id": run["id"], "status": RunStatus.RUNNING,
            "executions": [{"id": r["id"], "node_id": r["node_id"], "status": ExecutionStatus.QUEUED} for r in rows]}


def queue_executions(tx: WriteJobContext, project_id: str, run_id: str, rows: list[dict[str, Any]], *,
                     starts_run: bool = False) -> list[str]:
    """Store new executions of a run (rows of :func:`execution_row`) and emit each one's ``execution.queued``
    (after the run's ``run.started`` when they start it): the one way an execution comes to be."""
    tx.db.table("executions").insert_all(rows)
    if starts_run:
        announce_run(tx, project_id, run_id, EventType.RUN_STARTED)
    for row in rows:
        tx.emit(project_id, EventType.EXECUTION_QUEUED, run_id=run_id, node_id=row["node_id"],
                execution_id=row["id"], execution=summary(row))
    return [row["id"] for row in rows]


def insert_decision(tx: WriteJobContext, project_id: str, run_id: str, node: Node) -> str:
    """Queue a person's decision about a node of the run (a best-of-N pick, a plan's review): an execution
    of agent "gate"."""
    row = execution_row(project_id, run_id, node | {"agent": None, "candidates": None}, 1)
    return queue_executions(tx, project_id, run_id, [row])[0]


def insert_retry(tx: WriteJobContext, project_id: str, run_id: str, node: Node, attempt: int,
                 parent_execution_id: str | None = None) -> str:
    """Queue another execution of a node in its run: a retry, or a repair turn of ``parent_execution_id``."""
    row = execution_row(project_id, run_id, node, attempt, parent_execution_id)
    return queue_executions(tx, project_id, run_id, [row])[0]


def update_execution(tx: WriteJobContext, project_id: str, execution_id: str, changes: dict[str, Any],
                     event: EventType) -> None:
    """Apply ``changes`` to one execution and emit ``event`` with its new summary (one statement: this
    runs twice per execution on the writer's thread)."""
    assignments = ", ".join(f"{column} = ?" for column in changes)
    before = tx.execute("SELECT status FROM executions WHERE id = ?", [execution_id]).fetchone() \
        if "status" in changes else None
    rows = tx.execute(f"UPDATE executions SET {assignments} WHERE id = ? RETURNING {_SUMMARY_COLUMNS}",
                      [*changes.values(), execution_id]).fetchall()
    if not rows:
        raise NotFound(f"execution '{execution_id}' does not exist")
    row = dict(zip(SUMMARY_KEYS, rows[0], strict=True))
    tx.emit(project_id, event, run_id=row["run_id"], node_id=row["node_id"], execution_id=execution_id,
            execution=row)
    if before is not None:  # the attention list's live feed (hub feed): an item appears or goes
        was_waiting = before[0] in attention.WAITING_STATUSES
        if was_waiting or row["status"] in attention.WAITING_STATUSES:
            attention.announce_change(tx, project_id, execution_id, row["status"], was_waiting)


def store_outputs(tx: WriteJobContext, project_id: str, ids: dict[str, str], outputs: list[dict[str, Any]]) -> None:
    tx.emit_many(project_id, EventType.EXECUTION_OUTPUT, "output", outputs, **ids)


def store_check_event(tx: WriteJobContext, project_id: str, ids: dict[str, str], event: EventType,
                      check: dict[str, Any]) -> None:
    """A node's check started or finished (``check.started`` / ``check.finished``, orchestra/runtime/checks.py)."""
    tx.emit(project_id, event, **ids, check=check)


def skip(tx: WriteJobContext, project_id: str, execution_ids: list[str], because: str) -> None:
    now = time.time()
    for execution_id in execution_ids:
        update_execution(tx, project_id, execution_id, {
            "status": ExecutionStatus.SKIPPED, "error": f"upstream node '{because}' did not succeed",
            "finished_at": now,
        }, EventType.EXECUTION_FINISHED)


def finish_run(tx: WriteJobContext, project_id: str, run_id: str, status: RunStatus, error: str | None,
               leftover_status: ExecutionStatus) -> None:
    """Close the run; executions that never got to start take ``leftover_status``."""
    now = time.time()
    for (execution_id,) in tx.execute(_NEVER_STARTED, [run_id]).fetchall():
        update_execution(tx, project_id, execution_id, {
            "status": leftover_status, "error": error, "finished_at": now}, EventType.EXECUTION_FINISHED)
    tx.execute("UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?", [status, error, now, run_id])
    announce_run(tx, project_id, run_id, EventType.RUN_FINISHED)


def record_landed(tx: WriteJobContext, project_id: str, run_id: str, landed: dict[str, Any]) -> None:
    """How the run's work landed; a landing that changed nothing keeps the record (and its time) it had."""
    row = tx.execute("SELECT landed FROM runs WHERE id = ?", [run_id]).fetchone()
    if row and row[0] and {k: v for k, v in json.loads(row[0]).items() if k != "landed_at"} == \
            {k: v for k, v in landed.items() if k != "landed_at"}:
        return
    tx.execute("UPDATE runs SET landed = ? WHERE id = ?", [json.dumps(landed), run_id])
    tx.emit(project_id, EventType.RUN_LANDED, run_id=run_id, run=history.run_summary(tx.db, run_id))


def announce_run(tx: WriteJobContext, project_id: str, run_id: str, type_: EventType) -> None:
    """Emit a run's start or end on its project's stream, and on the hub feed with its project as a
    list of projects now shows it (state, last run)."""
    run = history.run_summary(tx.db, run_id)
    tx.emit(project_id, type_, run_id=run_id, run=run)
    tx.emit_hub(project_id, type_, run_id=run_id, run=run, project=store.get_project(tx.db, project_id))
    if type_ == EventType.RUN_FINISHED:
        attention.announce_run_finished(tx, project_id, run_id, run["status"])


# What recovery leaves alone: a gate waiting for a person, or an execution parked at a usage limit, runs
# no process, so it survives a restart, and so do its run and the run's executions still queued behind it.
_GATED_RUNS = f"SELECT run_id FROM executions WHERE status IN {sql_list(HELD_EXECUTION_STATUSES)}"
_INTERRUPTED_EXECUTIONS = ("SELECT id, project_id FROM executions WHERE "
                           f"(status = '{ExecutionStatus.RUNNING}' OR "
                           f"(status = '{ExecutionStatus.QUEUED}' AND run_id NOT IN ({_GATED_RUNS})))")
_CANCELLED_RUNS = (f"SELECT id, project_id FROM runs WHERE status IN {sql_list(UNFINISHED_RUN_STATUSES)} "
                   f"AND id NOT IN ({_GATED_RUNS})")


def finish_interrupted(tx: WriteJobContext, project_id: str | None, reason: str) -> None:
    """Recovery: what is still marked queued/running becomes interrupted, its runs cancelled, except
    runs waiting at a gate."""
    where, params = ("", []) if project_id is None else (" AND project_id = ?", [project_id])
    now = time.time()
    for row in fetch_rows(tx.db, _INTERRUPTED_EXECUTIONS + where, params):
        update_execution(tx, row["project_id"], row["id"], {
            "status": ExecutionStatus.INTERRUPTED, "error": reason, "finished_at": now}, EventType.EXECUTION_FINISHED)
    for row in fetch_rows(tx.db, _CANCELLED_RUNS + where, params):
        _cancel_run(tx, row["project_id"], row["id"], reason, now)


def abandon_run(tx: WriteJobContext, project_id: str, run_id: str, reason: str) -> None:
    """A run that could not be resumed: everything unfinished of it is interrupted, the run cancelled."""
    now = time.time()
    for (execution_id,) in tx.execute(_UNFINISHED_OF_RUN, [run_id]).fetchall():
        update_execution(tx, project_id, execution_id, {
            "status": ExecutionStatus.INTERRUPTED, "error": reason, "finished_at": now}, EventType.EXECUTION_FINISHED)
    _cancel_run(tx, project_id, run_id, reason, now)


def _cancel_run(tx: WriteJobContext, project_id: str, run_id: str, reason: str, now: float) -> None:
    tx.execute("UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
               [RunStatus.CANCELLED, reason, now, run_id])
    announce_run(tx, project_id, run_id, EventType.RUN_FINISHED)
