"""Queries over the store. Reads take a connection; writes take a :class:`WriteJobContext` and run in the writer.

Every write that clients can observe emits its project event in the same transaction.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any, cast

import sqlite_utils

from orchestra.core.dag import find_cycle
from orchestra.core.errors import Conflict, NotFound, Unprocessable
from orchestra.core.models import MAX_NODES_PER_PROJECT
from orchestra.core.rows import Node, Project, Template
from orchestra.core.statuses import (
    UNFINISHED_EXECUTION_STATUSES,
    UNFINISHED_RUN_STATUSES,
    EventType,
    HubEventType,
    NodeKind,
    ProjectState,
    RunStatus,
    sql_list,
)
from orchestra.storage.db import WriteJobContext, fetch_rows
from orchestra.storage.history import totals

_UNFINISHED = sql_list(UNFINISHED_EXECUTION_STATUSES)

Row = dict[str, Any]


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


def insert_project(tx: WriteJobContext, fields: Row) -> Project:
    now = time.time()
    row: Row = {"id": new_id("prj"), "description": "", "max_parallel": None} | fields
    row |= {"created_at": now, "updated_at": now}
    tx.db.table("projects").insert(row)
    project = get_project(tx.db, row["id"])
    tx.emit_hub(row["id"], HubEventType.PROJECT_CREATED, project=project)
    return project | {"totals": totals(tx.db, "project_id", row["id"])}


def update_project(tx: WriteJobContext, project_id: str, changes: Row) -> Project:
    require_project(tx.db, project_id)
    if changes:
        changes = changes | {"updated_at": time.time()}
        tx.db.table("projects").update(project_id, changes)
        tx.emit_hub(project_id, HubEventType.PROJECT_UPDATED, project=get_project(tx.db, project_id))
    return get_project(tx.db, project_id, with_totals=True)


def delete_project(tx: WriteJobContext, project_id: str) -> None:
    require_project(tx.db, project_id)
    active = tx.execute(
        f"SELECT count(*) FROM executions WHERE project_id = ? AND status IN {_UNFINISHED}",
        [project_id],
    ).fetchone()[0]
    if active:
        raise Conflict(
            f"project '{project_id}' has {active} execution(s) running or queued; cancel its runs first",
            {"active_executions": active},
        )
    tx.execute("DELETE FROM events WHERE project_id = ?", [project_id])
    tx.execute("DELETE FROM edges WHERE project_id = ?", [project_id])
    tx.execute("DELETE FROM projects WHERE id = ?", [project_id])
    tx.emit_hub(project_id, HubEventType.PROJECT_DELETED)


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


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")  # one class: linear
    return slug or "node"


def _free_node_id(db: sqlite_utils.Database, project_id: str, title: str) -> str:
    base = _slug(title)
    taken = {r[0] for r in db.execute(
        "SELECT id FROM nodes WHERE project_id = ? AND (id = ? OR id LIKE ?)",
        [project_id, base, base + "-%"])}
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _check_dependencies(
    db: sqlite_utils.Database, project_id: str, node_id: str, depends_on: list[str], *, new_node: bool = False
) -> None:
    if len(set(depends_on)) != len(depends_on):
        raise Unprocessable("depends_on lists a node twice", {"field": "depends_on"})
    named = [upstream for upstream in depends_on if upstream != node_id]
    existing = {r[0] for r in db.execute(
        f"SELECT id FROM nodes WHERE project_id = ? AND id IN ({', '.join('?' * len(named))})",
        [project_id, *named])} if named else set()
    missing = [upstream for upstream in named if upstream not in existing]
    if missing:
        raise Unprocessable(
            f"depends_on names node(s) not in project '{project_id}': {', '.join(missing)}",
            {"field": "depends_on", "missing": missing},
        )
    if new_node:  # nothing depends on a node being created: only naming itself can close a cycle
        if node_id in depends_on:
            raise Conflict(f"that dependency would close a cycle: {node_id} -> {node_id}",
                           {"cycle": [node_id, node_id]})
        return
    graph = dependency_graph(db, project_id)
    graph[node_id] = list(depends_on)
    cycle = find_cycle(graph)
    if cycle:
        raise Conflict(f"that dependency would close a cycle: {' -> '.join(cycle)}", {"cycle": cycle})


def _check_agent(db: sqlite_utils.Database, kind: str, agent: str | None, builtin_ids: tuple[str, ...]) -> None:
    if kind == NodeKind.GATE:
        if agent:
            raise Unprocessable("a gate runs no agent: leave 'agent' out", {"field": "agent"})
        return
    if not agent:
        raise Unprocessable("an agent node needs 'agent', the id of an agent template", {"field": "agent"})
    if agent in builtin_ids:
        return
    if db.execute("SELECT 1 FROM agent_templates WHERE id = ?", [agent]).fetchone() is None:
        raise Unprocessable(f"agent template '{agent}' does not exist", {"field": "agent"})


def _check_check(kind: str, check: list[str] | None, max_repairs: int) -> None:
    """A check belongs to a node that runs an agent; repair turns need a check to repair against."""
    if check and kind == NodeKind.GATE:
        raise Unprocessable("a gate runs no agent, so no check: leave 'check' out", {"field": "check"})
    if max_repairs and not check:
        raise Unprocessable("'max_repairs' needs a 'check' whose failures the agent repairs",
                            {"field": "max_repairs"})


def _check_plan_limits(kind: str, fields: Row) -> None:
    for field in ("max_tasks", "max_depth", "review_plan"):
        if fields.get(field) and kind != NodeKind.PLAN:
            raise Unprocessable(f"'{field}' limits a plan node's task list: set 'kind' to 'plan' or leave it out",
                                {"field": field})


def _check_candidates(db: sqlite_utils.Database, node: Row, builtin_ids: tuple[str, ...]) -> None:
    """Best of N runs agents side by side: not a gate's nor a plan's, and without repairs or retries."""
    candidates = node.get("candidates")
    if not candidates:
        return
    if node.get("kind", NodeKind.AGENT) != NodeKind.AGENT:
        raise Unprocessable("'candidates' needs a node of kind 'agent'", {"field": "candidates"})
    for field in ("max_repairs", "retries"):
        if node.get(field):
            raise Unprocessable(f"'{field}' cannot be combined with 'candidates'", {"field": field})
    for agent in candidates if isinstance(candidates, list) else ():
        known = agent in builtin_ids or db.execute("SELECT 1 FROM agent_templates WHERE id = ?", [agent]).fetchone()
        if not known:
            raise Unprocessable(f"'candidates' names agent template '{agent}', which does not exist",
                                {"field": "candidates"})


def _check_columns(changes: Row) -> None:
    """The API's ``check`` is stored as JSON in ``check_command`` (``check`` is an SQL keyword);
    ``candidates`` (a count or a list) as JSON."""
    if "check" in changes:
        check = changes.pop("check")
        changes["check_command"] = json.dumps(check) if check else None
    if "candidates" in changes:
        changes["candidates"] = json.dumps(changes["candidates"]) if changes["candidates"] else None


def create_node(tx: WriteJobContext, project_id: str, fields: Row, builtin_ids: tuple[str, ...]) -> Node:
    db = tx.db
    require_project(db, project_id)
    count = db.execute("SELECT count(*) FROM nodes WHERE project_id = ?", [project_id]).fetchone()[0]
    if count >= MAX_NODES_PER_PROJECT:
        raise Conflict(f"project '{project_id}' already has the maximum of {MAX_NODES_PER_PROJECT} nodes")
    fields = dict(fields)
    depends_on = fields.pop("depends_on", [])
    node_id = fields.pop("id", None) or _free_node_id(db, project_id, fields["title"])
    if db.execute("SELECT 1 FROM nodes WHERE project_id = ? AND id = ?", [project_id, node_id]).fetchone():
        raise Conflict(f"node '{node_id}' already exists in project '{project_id}'", {"field": "id"})
    _check_agent(db, fields.get("kind", NodeKind.AGENT), fields.get("agent"), builtin_ids)
    _check_check(fields.get("kind", NodeKind.AGENT), fields.get("check"), fields.get("max_repairs", 0))
    _check_plan_limits(fields.get("kind", NodeKind.AGENT), fields)
    _check_candidates(db, fields, builtin_ids)
    _check_columns(fields)
    _check_dependencies(db, project_id, node_id, depends_on, new_node=True)
    now = time.time()
    position = fields.pop("position", None)
    budget = fields.pop("budget", None)
    placement = fields.pop("placement", None)
    db.table("nodes").insert(fields | {
        "placement": json.dumps(placement) if placement else None,
        "project_id": project_id, "id": node_id, "created_at": now, "updated_at": now,
        "agent": fields.get("agent") or "",
        "position": json.dumps(position) if position else None,
        "budget": json.dumps(budget) if budget else None,
    })
    _insert_edges(tx, project_id, node_id, depends_on)
    node = get_node(db, project_id, node_id)
    tx.emit(project_id, EventType.NODE_CREATED, node_id=node_id, node=node)
    return node


def _insert_edges(tx: WriteJobContext, project_id: str, node_id: str, depends_on: list[str]) -> None:
    tx.db.conn.executemany(
        "INSERT INTO edges (project_id, node_id, depends_on) VALUES (?, ?, ?)",
        [(project_id, node_id, upstream) for upstream in depends_on],
    )


def update_node(tx: WriteJobContext, project_id: str, node_id: str, changes: Row, builtin_ids: tuple[str, ...]) -> Node:
    db = tx.db
    current = get_node(db, project_id, node_id)
    changes = dict(changes)
    if "agent" in changes or "kind" in changes:
        kind = changes.get("kind", current["kind"])
        agent = changes["agent"] if "agent" in changes else (current["agent"] if kind != NodeKind.GATE else None)
        _check_agent(db, kind, agent, builtin_ids)
        changes["agent"] = agent or ""
    if {"kind", "check", "max_repairs"} & changes.keys():
        _check_check(changes.get("kind", current["kind"]), changes.get("check", current["check"]),
                     changes.get("max_repairs", current["max_repairs"]))
    if {"kind", "max_tasks", "max_depth", "review_plan"} & changes.keys():
        _check_plan_limits(changes.get("kind", current["kind"]), {
            field: changes.get(field, current[field]) for field in ("max_tasks", "max_depth", "review_plan")})
    if {"kind", "candidates", "max_repairs", "retries"} & changes.keys():
        _check_candidates(db, {**current, **changes}, builtin_ids)
    _check_columns(changes)
    for column in ("position", "budget", "placement"):
        if column in changes:
            changes[column] = json.dumps(changes[column]) if changes[column] else None
    depends_on = changes.pop("depends_on", None)
    if depends_on is not None:
        _check_dependencies(db, project_id, node_id, depends_on)
        tx.execute("DELETE FROM edges WHERE project_id = ? AND node_id = ?", [project_id, node_id])
        _insert_edges(tx, project_id, node_id, depends_on)
    if changes:
        assignments = ", ".join(f"{column} = ?" for column in changes)
        tx.execute(
            f"UPDATE nodes SET {assignments}, updated_at = ? WHERE project_id = ? AND id = ?",
            [*changes.values(), time.time(), project_id, node_id],
        )
    node = get_node(db, project_id, node_id)
    tx.emit(project_id, EventType.NODE_UPDATED, node_id=node_id, node=node)
    return node


def delete_node(tx: WriteJobContext, project_id: str, node_id: str) -> None:
    db = tx.db
    get_node(db, project_id, node_id)
    active = db.execute(
        f"SELECT count(*) FROM executions WHERE project_id = ? AND node_id = ? AND status IN {_UNFINISHED}",
        [project_id, node_id],
    ).fetchone()[0]
    if active:
        raise Conflict(f"node '{node_id}' has an execution running or queued; cancel it first")
    dependents = [r[0] for r in db.execute(
        "SELECT node_id FROM edges WHERE project_id = ? AND depends_on = ?", [project_id, node_id])]
    tx.execute("DELETE FROM nodes WHERE project_id = ? AND id = ?", [project_id, node_id])
    tx.emit(project_id, EventType.NODE_DELETED, node_id=node_id)
    for dependent in dependents:
        tx.emit(project_id, EventType.NODE_UPDATED, node_id=dependent, node=get_node(db, project_id, dependent))


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


def insert_template(tx: WriteJobContext, fields: Row, builtin_ids: tuple[str, ...]) -> Template:
    template_id = fields["id"]
    if template_id in builtin_ids or user_template(tx.db, template_id) is not None:
        raise Conflict(f"agent template '{template_id}' already exists", {"field": "id"})
    resume, stdin_prompt = fields.get("resume_command"), fields.get("stdin_prompt")
    tx.db.table("agent_templates").insert(fields | {
        "command": json.dumps(fields["command"]), "env": json.dumps(fields.get("env", {})),
        "resume_command": json.dumps(resume) if resume else None,
        "version_command": json.dumps(fields["version_command"]) if fields.get("version_command") else None,
        "stdin_prompt": json.dumps(stdin_prompt) if stdin_prompt else None,
        "placement": json.dumps(fields["placement"]) if fields.get("placement") else None,
        "limit_patterns": json.dumps(fields["limit_patterns"]) if fields.get("limit_patterns") else None,
        "sandbox": json.dumps(fields["sandbox"]) if fields.get("sandbox") else None,
        "env_passthrough": json.dumps(fields.get("env_passthrough") or []),
        "created_at": time.time(),
    })
    template = user_template(tx.db, template_id)
    assert template is not None
    return template


def delete_template(tx: WriteJobContext, template_id: str, builtin_ids: tuple[str, ...]) -> None:
    if template_id in builtin_ids:
        raise Conflict(f"agent template '{template_id}' is built in and cannot be deleted")
    if user_template(tx.db, template_id) is None:
        raise NotFound(f"agent template '{template_id}' does not exist")
    users = [f"{p}/{n}" for p, n in tx.execute(
        "SELECT project_id, id FROM nodes WHERE agent = ? LIMIT 20", [template_id])]
    if users:
        raise Conflict(
            f"agent template '{template_id}' is used by node(s) {', '.join(users)}", {"nodes": users})
    tx.execute("DELETE FROM agent_templates WHERE id = ?", [template_id])
