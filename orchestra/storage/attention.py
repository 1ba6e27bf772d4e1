"""What waits for a person, across every project: the attention list (``GET /attention``).

An item is one of:

- ``gate``, ``pick``, ``plan_review``: a ``waiting`` execution (agent ``gate``) of a gate node, of a
  best-of-N node (``candidates``), or of a plan node (``review_plan``); answered with approve/reject.
- ``parked``: an execution parked at a usage limit, with its ``resume_at``; it resumes by itself, or now
  with ``POST /executions/{id}/resume``.
- ``failed_run``: a run that failed and that nobody has marked seen. The seen marker is ``runs.seen_at``,
  set by ``POST /runs/{id}/seen`` (the UI's "Dismiss", or opening the run in the UI); a later run of the
  same project that succeeds also takes an older failure off the list (the failure is no longer news).

The list is derived from the stored rows on each read, never kept on the side, so it cannot drift
from the truth after a restart. Its live feed is ``attention.changed`` on the hub feed (``/ws/hub``):
:func:`announce_change` is called from the transitions that make an item appear or disappear, in the
same transaction, so the feed's ``seq`` orders it with everything else.
"""

from __future__ import annotations

import json
import time
from typing import Any, NotRequired, TypedDict

import sqlite_utils

from orchestra.core.errors import Conflict, NotFound
from orchestra.core.statuses import AttentionKind, ExecutionStatus, HubEventType, NodeKind, RunStatus
from orchestra.storage.db import WriteJobContext, fetch_rows

PARKED = str(ExecutionStatus.PARKED)  # at a usage limit (orchestra/runtime/parking.py), until resume_at
WAITING_STATUSES = (str(ExecutionStatus.WAITING), PARKED)


class AttentionItem(TypedDict):
    kind: str  # an AttentionKind
    project_id: str
    project_name: str
    run_id: str
    node_id: str | None  # None for a failed run without a failed execution (cancelled by its budget, say)
    node_title: str | None
    execution_id: str | None
    since: float  # when it started waiting (or the run failed), epoch seconds
    resume_at: NotRequired[float | None]  # parked
    error: NotRequired[str | None]  # failed_run: the run's error or its first failed execution's
    comment_allowed: NotRequired[bool]


_WAITING = f"""
    SELECT e.id, e.project_id, p.name AS project_name, e.run_id, e.node_id, n.title AS node_title, e.status,
           coalesce(e.started_at, e.created_at) AS since, n.kind AS node_kind, n.candidates AS candidates,
           e.resume_at AS resume_at
    FROM executions e JOIN projects p ON p.id = e.project_id
    LEFT JOIN nodes n ON n.project_id = e.project_id AND n.id = e.node_id
    WHERE e.status IN ('{ExecutionStatus.WAITING}', '{PARKED}')"""

_FAILED_RUNS = f"""
    SELECT r.id, r.project_id, p.name AS project_name, r.error, coalesce(r.finished_at, r.created_at) AS since,
           fe.id AS failed_execution, fe.node_id AS node_id, n.title AS node_title, fe.error AS execution_error
    FROM runs r JOIN projects p ON p.id = r.project_id
    LEFT JOIN executions fe ON fe.num = (
        SELECT e.num FROM executions e WHERE e.run_id = r.id AND e.status NOT IN
          ('{ExecutionStatus.SUCCEEDED}', '{ExecutionStatus.SKIPPED}', '{ExecutionStatus.QUEUED}',
           '{ExecutionStatus.RUNNING}', '{ExecutionStatus.WAITING}') ORDER BY e.num LIMIT 1)
    LEFT JOIN nodes n ON n.project_id = fe.project_id AND n.id = fe.node_id
    WHERE r.status = '{RunStatus.FAILED}' AND r.seen_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM runs later WHERE later.project_id = r.project_id
                      AND later.created_at > r.created_at AND later.status = '{RunStatus.SUCCEEDED}')"""


def _waiting_kind(row: dict[str, Any]) -> AttentionKind:
    if row["status"] == PARKED:
        return AttentionKind.PARKED
    if row["node_kind"] == NodeKind.PLAN:
        return AttentionKind.PLAN_REVIEW
    if row["candidates"]:
        return AttentionKind.PICK
    return AttentionKind.GATE


def _waiting_item(row: dict[str, Any]) -> AttentionItem:
    kind = _waiting_kind(row)
    item: AttentionItem = {
        "kind": kind, "project_id": row["project_id"], "project_name": row["project_name"], "run_id": row["run_id"],
        "node_id": row["node_id"], "node_title": row["node_title"], "execution_id": row["id"], "since": row["since"]}
    if kind == AttentionKind.PARKED:
        item["resume_at"] = row["resume_at"]
    return item


def list_items(db: sqlite_utils.Database, project_id: str | None = None) -> list[AttentionItem]:
    """Every item now, oldest first (what has waited longest comes first)."""
    where, params = ("", []) if project_id is None else (" AND e.project_id = ?", [project_id])
    items = [_waiting_item(row) for row in fetch_rows(db, _WAITING + where, params)]
    run_where = "" if project_id is None else " AND r.project_id = ?"
    for row in fetch_rows(db, _FAILED_RUNS + run_where, params):
        items.append({"kind": AttentionKind.FAILED_RUN, "project_id": row["project_id"],
                      "project_name": row["project_name"], "run_id": row["id"], "node_id": row["node_id"],
                      "node_title": row["node_title"], "execution_id": row["failed_execution"], "since": row["since"],
                      "error": row["error"] or row["execution_error"]})
    items.sort(key=lambda item: item["since"])
    return items


def waiting_item(db: sqlite_utils.Database, execution_id: str) -> AttentionItem | None:
    """The item of one execution, if it waits for a person now."""
    rows = fetch_rows(db, _WAITING + " AND e.id = ?", [execution_id])
    return _waiting_item(rows[0]) if rows else None


# -- the live feed ----------------------------------------------------------------------------------


def announce_change(tx: WriteJobContext, project_id: str, execution_id: str, status: str,
                    was_waiting: bool) -> None:
    """After an execution's status changed (in that transaction): an ``attention.changed`` hub event when
    it started waiting for a person (``added``, the item) or stopped (``removed``)."""
    if status in WAITING_STATUSES:
        item = waiting_item(tx.db, execution_id)
        if item is not None:
            tx.emit_hub(project_id, HubEventType.ATTENTION_CHANGED, added=item)
    elif was_waiting:
        tx.emit_hub(project_id, HubEventType.ATTENTION_CHANGED,
                    removed={"kind": None, "execution_id": execution_id, "status": status})


def announce_run_finished(tx: WriteJobContext, project_id: str, run_id: str, status: str) -> None:
    """A failed run enters the list (``added``); a succeeded one takes its project's older failures off it."""
    if status == RunStatus.FAILED:
        for item in list_items(tx.db, project_id):
            if item["kind"] == AttentionKind.FAILED_RUN and item["run_id"] == run_id:
                tx.emit_hub(project_id, HubEventType.ATTENTION_CHANGED, added=item)
    elif status == RunStatus.SUCCEEDED:
        for (old_run,) in tx.execute(f"SELECT id FROM runs WHERE project_id = ? AND id != ? AND status = "
                                     f"'{RunStatus.FAILED}' AND seen_at IS NULL", [project_id, run_id]).fetchall():
            tx.emit_hub(project_id, HubEventType.ATTENTION_CHANGED,
                        removed={"kind": AttentionKind.FAILED_RUN, "run_id": old_run})


def mark_seen(tx: WriteJobContext, run_id: str) -> dict[str, Any]:
    """``POST /runs/{id}/seen``: a failed run leaves the attention list. Seeing a run twice is harmless
    (the first time counts); a run that has not finished is 409 (there is nothing to have seen yet)."""
    row = tx.execute("SELECT project_id, status, seen_at FROM runs WHERE id = ?", [run_id]).fetchone()
    if row is None:
        raise NotFound(f"run '{run_id}' does not exist")
    project_id, status, seen_at = row
    if status == RunStatus.RUNNING:
        raise Conflict(f"run '{run_id}' has not finished")
    if seen_at is None:
        seen_at = time.time()
        tx.execute("UPDATE runs SET seen_at = ? WHERE id = ?", [seen_at, run_id])
        if status == RunStatus.FAILED:
            tx.emit_hub(project_id, HubEventType.ATTENTION_CHANGED,
                        removed={"kind": AttentionKind.FAILED_RUN, "run_id": run_id})
    return {"run_id": run_id, "seen_at": seen_at}


def encode_items(items: list[AttentionItem]) -> str:
    return json.dumps({"items": items}, separators=(",", ":"))
