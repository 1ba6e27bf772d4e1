"""Queries over what ran: runs, executions and their stored events."""

from __future__ import annotations

import json
from typing import cast

import sqlite_utils

from orchestra.core.errors import NotFound, Unprocessable
from orchestra.core.rows import Execution, Run, Totals
from orchestra.core.statuses import (
    SHOWN_FIRST_EXECUTION_STATUSES,
    UNFINISHED_EXECUTION_STATUSES,
    ExecutionStatus,
    RunScope,
    sql_list,
)
from orchestra.storage.db import Row, fetch_rows

_STATUS_FILTER = frozenset(ExecutionStatus)

_EXECUTION_COLUMNS = """id, project_id, run_id, node_id, attempt, status, agent, model, prompt, argv,
    workspace, pid, exit_code, error, result_text, session_id, input_tokens, output_tokens, cost_usd,
    parent_execution_id, candidate, base_commit, commit_sha, branch, ran_on, resume_at, sandbox, stderr, created_at,
    started_at, finished_at"""
# Pages of GET /executions leave out the bulky fields (prompt, argv, stderr): GET /executions/{id} has them.
_LIST_COLUMNS = """id, project_id, run_id, node_id, attempt, status, agent, model, workspace, pid, exit_code, error,
    result_text, session_id, input_tokens, output_tokens, cost_usd, parent_execution_id, candidate, base_commit,
    commit_sha, branch, ran_on, resume_at, sandbox, created_at, started_at, finished_at"""



def present_execution(row: Row) -> Execution:
    if isinstance(row.get("argv"), str):
        row["argv"] = json.loads(row["argv"])
    return cast(Execution, row)


def _present_run(row: Row) -> Run:
    row["node_ids"] = json.loads(row["node_ids"]) if row["node_ids"] else None
    row["budget"] = json.loads(row["budget"]) if row.get("budget") else None
    row["inputs"] = json.loads(row["inputs"]) if row.get("inputs") else {}
    row["trigger"] = json.loads(row["trigger"]) if row.get("trigger") else None
    row["landed"] = json.loads(row["landed"]) if row.get("landed") else None
    row["scope"] = RunScope.FOLLOW_UP if row.pop("follow_up") else RunScope.NODES if row["node_ids"] else RunScope.ALL
    row["totals"] = {"input_tokens": row.pop("input_tokens"), "output_tokens": row.pop("output_tokens"),
                     "cost_usd": _cost(row.pop("cost_usd")), "executions": row.pop("executions")}
    return cast(Run, row)


def totals(db: sqlite_utils.Database, column: str, value: str) -> Totals:
    """Tokens and cost summed over the executions of one run or one project."""
    assert column in ("run_id", "project_id")
    row = db.execute(
        f"SELECT coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), sum(cost_usd), "
        f"count(*) FROM executions WHERE {column} = ?", [value]).fetchone()
    return {"input_tokens": row[0], "output_tokens": row[1], "cost_usd": _cost(row[2]), "executions": row[3]}


def _cost(total: float | None) -> float | None:
    """A sum of costs; None when no execution reported one (Codex and Gemini report none): not $0."""
    return None if total is None else round(total, 6)


# The runs of one page (``page``, chosen first so that only they are summed), each with its totals and
# whether it is a follow-up (its executions continue another's session): what _present_run reads.
_RUN_SUMMARIES = """
    SELECT page.*, coalesce(sum(e.input_tokens), 0) AS input_tokens, coalesce(sum(e.output_tokens), 0) AS output_tokens,
           sum(e.cost_usd) AS cost_usd, count(e.num) AS executions,
           coalesce(max(e.parent_execution_id IS NOT NULL), 0) AS follow_up
    FROM page LEFT JOIN executions e ON e.run_id = page.id
    GROUP BY page.id ORDER BY page.created_at DESC, page.id DESC"""


def list_runs(db: sqlite_utils.Database, project_id: str | None, limit: int,
              before: str | None = None) -> tuple[list[Run], str | None]:
    """Newest first, with totals and scope; ``before`` is the id of the last run of the previous page."""
    clauses, params = [], []
    if project_id is not None:
        clauses.append("project_id = ?")
        params.append(project_id)
    if before:
        anchor = db.execute("SELECT created_at, id FROM runs WHERE id = ?", [before]).fetchone()
        if anchor is None:
            raise Unprocessable(f"before: run '{before}' does not exist", {"field": "before"})
        clauses.append("(created_at < ? OR (created_at = ? AND id < ?))")
        params += [anchor[0], anchor[0], anchor[1]]
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = fetch_rows(db, f"WITH page AS (SELECT * FROM runs {where} ORDER BY created_at DESC, id DESC LIMIT ?)"
                      + _RUN_SUMMARIES, [*params, limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return [_present_run(row) for row in rows], (rows[-1]["id"] if more else None)


def run_summary(db: sqlite_utils.Database, run_id: str) -> Run:
    """One run as ``GET /runs`` lists it (and as run events carry it): totals and scope, no executions."""
    rows = fetch_rows(db, "WITH page AS (SELECT * FROM runs WHERE id = ?)" + _RUN_SUMMARIES, [run_id])
    if not rows:
        raise NotFound(f"run '{run_id}' does not exist")
    return _present_run(rows[0])


def get_run(db: sqlite_utils.Database, run_id: str) -> Run:
    run = run_summary(db, run_id)
    run["executions"] = [present_execution(row) for row in fetch_rows(
        db, f"SELECT {_EXECUTION_COLUMNS} FROM executions WHERE run_id = ? ORDER BY num", [run_id])]
    return run


def get_execution(db: sqlite_utils.Database, execution_id: str) -> Execution:
    rows = fetch_rows(db, f"SELECT {_EXECUTION_COLUMNS} FROM executions WHERE id = ?", [execution_id])
    if not rows:
        raise NotFound(f"execution '{execution_id}' does not exist")
    return present_execution(rows[0])


def list_executions(db: sqlite_utils.Database, filters: dict[str, str], limit: int,
                    before: str | None) -> tuple[list[Execution], str | None]:
    """Newest first; ``before`` is the id of the last execution of the previous page."""
    clauses, params = [], []
    for column in ("project_id", "node_id", "run_id", "status"):
        if filters.get(column):
            clauses.append(f"{column} = ?")
            params.append(filters[column])
    if filters.get("status") and filters["status"] not in _STATUS_FILTER:
        raise Unprocessable(f"status must be one of {', '.join(ExecutionStatus)}", {"field": "status"})
    if before:
        anchor = db.execute("SELECT num FROM executions WHERE id = ?", [before]).fetchone()
        if anchor is None:
            raise Unprocessable(f"before: execution '{before}' does not exist", {"field": "before"})
        clauses.append("num < ?")
        params.append(anchor[0])
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = fetch_rows(db, f"SELECT {_LIST_COLUMNS} FROM executions {where} ORDER BY num DESC LIMIT ?",
                      [*params, limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return [present_execution(row) for row in rows], (rows[-1]["id"] if more else None)


def execution_events(db: sqlite_utils.Database, execution_id: str, after: int, limit: int,
                     tail: bool = False) -> list[str]:
    """The stored events of one execution as JSON texts, in ``seq`` order: the first ``limit`` after
    ``after``, or with ``tail`` the last ``limit`` (a viewer that shows only the newest lines)."""
    if db.execute("SELECT 1 FROM executions WHERE id = ?", [execution_id]).fetchone() is None:
        raise NotFound(f"execution '{execution_id}' does not exist")
    if tail:
        rows = db.execute("SELECT body FROM events WHERE execution_id = ? AND seq > ? ORDER BY seq DESC LIMIT ?",
                          [execution_id, after, limit]).fetchall()
        return [body for (body,) in reversed(rows)]
    return [body for (body,) in db.execute(
        "SELECT body FROM events WHERE execution_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        [execution_id, after, limit])]


def project_events(db: sqlite_utils.Database, project_id: str, after: int, limit: int) -> list[tuple[int, str]]:
    return list(db.execute(
        "SELECT seq, body FROM events WHERE project_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        [project_id, after, limit]))


def latest_seq(db: sqlite_utils.Database, project_id: str) -> int:
    seq: int = db.execute("SELECT coalesce(max(seq), 0) FROM events WHERE project_id = ?", [project_id]).fetchone()[0]
    return seq


# A node's shown execution (statuses.SHOWN_FIRST_EXECUTION_STATUSES): at work, else queued, else the newest.
_SHOWN_RANK = (f"CASE WHEN e.status IN {sql_list(SHOWN_FIRST_EXECUTION_STATUSES)} THEN 0 "
               f"WHEN e.status IN {sql_list(UNFINISHED_EXECUTION_STATUSES)} THEN 1 ELSE 2 END")


def latest_executions(db: sqlite_utils.Database, project_id: str) -> list[Execution]:
    """The execution every node of a project shows (what the DAG view colours nodes by): the newest one,
    unless an older run still has the node at work or queued (overlapping runs): then that one."""
    return [present_execution(row) for row in fetch_rows(db, f"""
        SELECT {_EXECUTION_COLUMNS} FROM executions WHERE num IN (
            SELECT num FROM (
                SELECT e.num, row_number() OVER (PARTITION BY e.node_id ORDER BY {_SHOWN_RANK}, e.num DESC) AS rank
                FROM executions e JOIN nodes n ON n.project_id = e.project_id AND n.id = e.node_id
                WHERE e.project_id = ?)
            WHERE rank = 1)
        ORDER BY num""", [project_id])]


def newer_executions(db: sqlite_utils.Database, project_id: str) -> list[Execution]:
    """The newest execution of each node whose shown one (:func:`latest_executions`) is an older
    unfinished one: a client that follows the stream shows it once the older one ends."""
    return [present_execution(row) for row in fetch_rows(db, f"""
        SELECT {_EXECUTION_COLUMNS} FROM executions WHERE num IN (
            SELECT num FROM (
                SELECT e.num, row_number() OVER (PARTITION BY e.node_id ORDER BY e.num DESC) AS newest,
                       row_number() OVER (PARTITION BY e.node_id ORDER BY {_SHOWN_RANK}, e.num DESC) AS shown
                FROM executions e JOIN nodes n ON n.project_id = e.project_id AND n.id = e.node_id
                WHERE e.project_id = ?)
            WHERE newest = 1 AND shown != 1)
        ORDER BY num""", [project_id])]
