"""Queries over the store. Reads take a connection; writes take a :class:`WriteJobContext` and run in the writer.

Every write that clients can observe emits its project event in the same transaction.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, cast

import sqlite_utils

from orchestra.core.errors import NotFound
from orchestra.core.rows import Node, Project, Template
from orchestra.core.statuses import (
    UNFINISHED_EXECUTION_STATUSES,
    UNFINISHED_RUN_STATUSES,
    ProjectState,
    RunStatus,
    sql_list,
)
from orchestra.storage.db import Row, fetch_rows
from orchestra.storage.history import totals

_UNFINISHED = sql_list(UNFINISHED_EXECUTION_STATUSES)




def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"



def _row(db: sqlite_utils.Database, sql: str, params: Any = ()) -> Row | None:
    rows = fetch_rows(db, sql, params)
    return rows[0] if rows else None


# -- projects -------------------------------------------------------------------------------------

# ``running_runs``: every unfinished run, newest first (runs overlap: a project is running while any is).
_PROJECT_SUMMARY = f"""
    SELECT p.*, r.id AS last_run_id, r.status AS last_run_status, r.created_at AS last_run_at,
           (SELECT count(*) FROM nodes n WHERE n.project_id = p.id) AS node_count,
           (SELECT json_group_array(id) FROM (SELECT id FROM runs WHERE project_id = p.id
                AND status IN {sql_list(UNFINISHED_RUN_STATUSES)} ORDER BY created_at DESC)) AS running_runs
    FROM projects p
    LEFT JOIN runs r ON r.id = (
        SELECT id FROM runs WHERE project_id = p.id ORDER BY created_at DESC LIMIT 1)
"""


def _present_project(row: Row) -> Project:
    run_id = row.pop("last_run_id")
    status = row.pop("last_run_status")
    at = row.pop("last_run_at")
    row["last_run"] = {"id": run_id, "status": status, "created_at": at} if run_id else None
    row["running_runs"] = json.loads(row["running_runs"] or "[]")
    # Running while any run is unfinished, whatever the newest one did (a newer run cancelled while an
    # older one still has agents at work is no "idle" project); else from the last run.
    row["state"] = (ProjectState.RUNNING if row["running_runs"]
                    else ProjectState.FAILED if status == RunStatus.FAILED else ProjectState.IDLE)
    return cast(Project, row)


def list_projects(db: sqlite_utils.Database) -> list[Project]:
    return [_present_project(row) for row in fetch_rows(db, _PROJECT_SUMMARY + " ORDER BY p.created_at")]


def get_project(db: sqlite_utils.Database, project_id: str, *, with_totals: bool = False) -> Project:
    """One project; ``with_totals`` adds its tokens and cost, a sum over all its executions that
    only ``GET /projects/{id}`` pays for (not every launch or snapshot)."""
    row = _row(db, _PROJECT_SUMMARY + " WHERE p.id = ?", [project_id])
    if row is None:
        raise NotFound(f"project '{project_id}' does not exist")
    project = _present_project(row)
    if with_totals:
        project["totals"] = totals(db, "project_id", project_id)
    return project


def require_project(db: sqlite_utils.Database, project_id: str) -> None:
    if db.execute("SELECT 1 FROM projects WHERE id = ?", [project_id]).fetchone() is None:
        raise NotFound(f"project '{project_id}' does not exist")


# -- nodes ----------------------------------------------------------------------------------------


def _present_node(row: Row, depends_on: list[str]) -> Node:
    position = row.pop("position")
    row["position"] = json.loads(position) if position else None
    row["budget"] = json.loads(row["budget"]) if row.get("budget") else None
    row["placement"] = json.loads(row["placement"]) if row.get("placement") else None
    row["agent"] = row["agent"] or None  # gates run no agent
    command = row.pop("check_command", None)
    row["check"] = json.loads(command) if command else None
    row["candidates"] = json.loads(row["candidates"]) if row.get("candidates") else None
    row["land"] = json.loads(row["land"]) if row.get("land") else None
    row["review_plan"] = bool(row.get("review_plan"))
    row["depends_on"] = depends_on
    return cast(Node, row)


def _edges(db: sqlite_utils.Database, project_id: str) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for node_id, upstream in db.execute(
        "SELECT node_id, depends_on FROM edges WHERE project_id = ? ORDER BY rowid", [project_id]
    ):
        graph.setdefault(node_id, []).append(upstream)
    return graph


def dependency_graph(db: sqlite_utils.Database, project_id: str) -> dict[str, list[str]]:
    """Every node of the project, mapped to the nodes it depends on."""
    graph: dict[str, list[str]] = {node_id: [] for (node_id,) in db.execute(
        "SELECT id FROM nodes WHERE project_id = ?", [project_id])}
    graph.update(_edges(db, project_id))
    return graph


def list_nodes(db: sqlite_utils.Database, project_id: str) -> list[Node]:
    require_project(db, project_id)
    edges = _edges(db, project_id)
    rows = fetch_rows(db, "SELECT * FROM nodes WHERE project_id = ? ORDER BY created_at, id", [project_id])
    return [_present_node(row, edges.get(row["id"], [])) for row in rows]


def get_node(db: sqlite_utils.Database, project_id: str, node_id: str) -> Node:
    require_project(db, project_id)
    row = _row(db, "SELECT * FROM nodes WHERE project_id = ? AND id = ?", [project_id, node_id])
    if row is None:
        raise NotFound(f"node '{node_id}' does not exist in project '{project_id}'")
    upstream = [r[0] for r in db.execute(
        "SELECT depends_on FROM edges WHERE project_id = ? AND node_id = ? ORDER BY rowid",
        [project_id, node_id])]
    return _present_node(row, upstream)


# -- agent templates ------------------------------------------------------------------------------


def _present_template(row: Row) -> Template:
    row["command"] = json.loads(row["command"])
    row["resume_command"] = json.loads(row["resume_command"]) if row.get("resume_command") else None
    row["version_command"] = json.loads(row["version_command"]) if row.get("version_command") else None
    row["stdin_prompt"] = json.loads(row["stdin_prompt"]) if row.get("stdin_prompt") else None
    row["env"] = json.loads(row["env"])
    row["placement"] = json.loads(row["placement"]) if row.get("placement") else None
    row["limit_patterns"] = json.loads(row["limit_patterns"]) if row.get("limit_patterns") else None
    row["sandbox"] = json.loads(row["sandbox"]) if row.get("sandbox") else None
    row["env_passthrough"] = json.loads(row["env_passthrough"]) if row.get("env_passthrough") else []
    row["builtin"] = False
    return cast(Template, row)


def user_templates(db: sqlite_utils.Database) -> list[Template]:
    return [_present_template(row) for row in fetch_rows(db, "SELECT * FROM agent_templates ORDER BY created_at")]


def user_template(db: sqlite_utils.Database, template_id: str) -> Template | None:
    row = _row(db, "SELECT * FROM agent_templates WHERE id = ?", [template_id])
    return _present_template(row) if row else None


