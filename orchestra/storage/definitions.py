"""Writes of what people define: projects, nodes and their edges, agent templates, webhooks (and the
delivery ids they received) and schedules.

Every state change of the hub goes through :mod:`orchestra.storage.transitions` (runs and executions,
written by their project's actor) or through this module, the one exception, for this reason: these are
not run state and no actor owns them. A route (or a flow's apply, or a plan node growing its tasks)
changes them in one writer transaction, which the database's single writer serializes with every
launch and transition; each function here checks what it changes (:mod:`orchestra.storage.node_rules`)
and emits its event in that same transaction. Reads are :mod:`orchestra.storage.store`'s.
"""

from __future__ import annotations

import json
import time

from orchestra.core.errors import Conflict, NotFound, Unprocessable
from orchestra.core.models import MAX_NODES_PER_PROJECT
from orchestra.core.rows import Node, Project, Template
from orchestra.core.statuses import UNFINISHED_EXECUTION_STATUSES, EventType, HubEventType, NodeKind, sql_list
from orchestra.storage import node_rules
from orchestra.storage.db import Row, WriteJobContext
from orchestra.storage.history import totals
from orchestra.storage.store import get_node, get_project, new_id, require_project, user_template

_UNFINISHED = sql_list(UNFINISHED_EXECUTION_STATUSES)


# -- projects -------------------------------------------------------------------------------------


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


def _check_columns(changes: Row) -> None:
    """The API's ``check`` is stored as JSON in ``check_command`` (``check`` is an SQL keyword);
    ``candidates`` (a count or a list) as JSON."""
    if "check" in changes:
        check = changes.pop("check")
        changes["check_command"] = json.dumps(check) if check else None
    if "candidates" in changes:
        changes["candidates"] = json.dumps(changes["candidates"]) if changes["candidates"] else None
    if "land" in changes:
        land = {key: value for key, value in (changes["land"] or {}).items() if value is not None}
        changes["land"] = json.dumps(land) if land else None


def create_node(tx: WriteJobContext, project_id: str, fields: Row, builtin_ids: tuple[str, ...]) -> Node:
    db = tx.db
    require_project(db, project_id)
    count = db.execute("SELECT count(*) FROM nodes WHERE project_id = ?", [project_id]).fetchone()[0]
    if count >= MAX_NODES_PER_PROJECT:
        raise Conflict(f"project '{project_id}' already has the maximum of {MAX_NODES_PER_PROJECT} nodes")
    fields = dict(fields)
    depends_on = fields.pop("depends_on", [])
    node_id = fields.pop("id", None) or node_rules.free_node_id(db, project_id, fields["title"])
    if db.execute("SELECT 1 FROM nodes WHERE project_id = ? AND id = ?", [project_id, node_id]).fetchone():
        raise Conflict(f"node '{node_id}' already exists in project '{project_id}'", {"field": "id"})
    node_rules.check_agent(db, fields.get("kind", NodeKind.AGENT), fields.get("agent"), builtin_ids)
    node_rules.check_check(fields.get("kind", NodeKind.AGENT), fields.get("check"), fields.get("max_repairs", 0))
    node_rules.check_plan_limits(fields.get("kind", NodeKind.AGENT), fields)
    node_rules.check_land(fields.get("kind", NodeKind.AGENT), fields.get("land"))
    node_rules.check_candidates(db, fields, builtin_ids)
    _check_columns(fields)
    node_rules.check_dependencies(db, project_id, node_id, depends_on, new_node=True)
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


def replace_edges(tx: WriteJobContext, project_id: str, node_id: str, depends_on: list[str]) -> None:
    """The node now depends on ``depends_on`` (already checked: they exist and close no cycle)."""
    tx.execute("DELETE FROM edges WHERE project_id = ? AND node_id = ?", [project_id, node_id])
    _insert_edges(tx, project_id, node_id, depends_on)


def remove_node(tx: WriteJobContext, project_id: str, node_id: str) -> None:
    """Delete a node and every edge to or from it, without :func:`delete_node`'s checks: a flow's apply
    removes nodes the file no longer has, while no run of the project is in progress."""
    tx.execute("DELETE FROM edges WHERE project_id = ? AND (node_id = ? OR depends_on = ?)",
               [project_id, node_id, node_id])
    tx.execute("DELETE FROM nodes WHERE project_id = ? AND id = ?", [project_id, node_id])
    tx.emit(project_id, EventType.NODE_DELETED, node_id=node_id)


def _insert_edges(tx: WriteJobContext, project_id: str, node_id: str, depends_on: list[str]) -> None:
    tx.db.conn.executemany(
        "INSERT INTO edges (project_id, node_id, depends_on) VALUES (?, ?, ?)",
        [(project_id, node_id, upstream) for upstream in depends_on],
    )


def update_node(tx: WriteJobContext, project_id: str, node_id: str, changes: Row, builtin_ids: tuple[str, ...]) -> Node:
    db = tx.db
    current = get_node(db, project_id, node_id)
    if current["kind"] == NodeKind.PLAN and changes.get("kind") not in (None, NodeKind.PLAN):
        remove_grown(tx, project_id, node_id)  # a plan node changed into another kind loses its tasks
    changes = dict(changes)
    if "agent" in changes or "kind" in changes:
        kind = changes.get("kind", current["kind"])
        agent = changes["agent"] if "agent" in changes else (current["agent"] if kind not in node_rules.AGENTLESS
                                                              else None)
        node_rules.check_agent(db, kind, agent, builtin_ids)
        changes["agent"] = agent or ""
    if {"kind", "check", "max_repairs"} & changes.keys():
        node_rules.check_check(changes.get("kind", current["kind"]), changes.get("check", current["check"]),
                     changes.get("max_repairs", current["max_repairs"]))
    if {"kind", "max_tasks", "max_depth", "review_plan"} & changes.keys():
        node_rules.check_plan_limits(changes.get("kind", current["kind"]), {
            field: changes.get(field, current[field]) for field in ("max_tasks", "max_depth", "review_plan")})
    if {"kind", "land"} & changes.keys():
        node_rules.check_land(changes.get("kind", current["kind"]), changes.get("land", current.get("land")))
    if {"kind", "candidates", "max_repairs", "retries"} & changes.keys():
        node_rules.check_candidates(db, {**current, **changes}, builtin_ids)
    _check_columns(changes)
    for column in ("position", "budget", "placement"):
        if column in changes:
            changes[column] = json.dumps(changes[column]) if changes[column] else None
    depends_on = changes.pop("depends_on", None)
    if depends_on is not None:
        node_rules.check_dependencies(db, project_id, node_id, depends_on)
        replace_edges(tx, project_id, node_id, depends_on)
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
    """Delete a node, and first the tasks it grew when it is a plan node (:func:`remove_grown`)."""
    get_node(tx.db, project_id, node_id)  # 404 before anything else
    remove_grown(tx, project_id, node_id)
    _delete_one_node(tx, project_id, node_id)


def remove_grown(tx: WriteJobContext, project_id: str, plan_id: str) -> list[str]:
    """Delete the nodes a plan node grew (``planned_by``), the last grown first (a task after those it
    depends on); return their ids. A plan node's grown tasks go with it: deleted, or changed into another
    kind, it leaves none behind (they would point at nothing, be left out of a flow's export, and run at
    the next launch). A grown node with an unfinished execution refuses the whole change (409)."""
    grown = [node for (node,) in tx.execute(
        "SELECT id FROM nodes WHERE project_id = ? AND planned_by = ? ORDER BY rowid DESC", [project_id, plan_id])]
    for node_id in grown:
        _delete_one_node(tx, project_id, node_id)
    return grown


def _delete_one_node(tx: WriteJobContext, project_id: str, node_id: str) -> None:
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


# -- triggers (what each presents is :mod:`orchestra.triggers`'s) ------------------------------------


def set_webhook(tx: WriteJobContext, project_id: str, secret: str, inputs: dict[str, str],
                node_ids: list[str] | None) -> None:
    """The project's one webhook, created or replaced; node ids it does not have are refused now (422),
    not at every delivery."""
    require_project(tx.db, project_id)
    if node_ids:
        known = {node for (node,) in tx.execute("SELECT id FROM nodes WHERE project_id = ?", [project_id])}
        unknown = [node for node in node_ids if node not in known]
        if unknown:
            raise Unprocessable(f"invalid field 'node_ids': project '{project_id}' has no node(s) "
                                f"{', '.join(unknown)}", {"field": "node_ids", "unknown": unknown})
    now = time.time()
    tx.execute(
        "INSERT INTO webhooks (project_id, secret, inputs, node_ids, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (project_id) DO UPDATE SET secret = excluded.secret, inputs = excluded.inputs, "
        "node_ids = excluded.node_ids, updated_at = excluded.updated_at",
        [project_id, secret, json.dumps(inputs) if inputs else None, json.dumps(node_ids) if node_ids else None,
         now, now])


def delete_webhook(tx: WriteJobContext, project_id: str) -> None:
    if tx.execute("DELETE FROM webhooks WHERE project_id = ?", [project_id]).rowcount == 0:
        raise NotFound(f"project '{project_id}' has no webhook")


def insert_schedule(tx: WriteJobContext, project_id: str, cron: str, inputs: dict[str, str] | None,
                    node_ids: list[str] | None, now: float) -> str:
    """A new schedule of the project; returns its id."""
    require_project(tx.db, project_id)
    row = {"id": new_id("sch"), "project_id": project_id, "cron": cron,
           "inputs": json.dumps(inputs) if inputs else None, "node_ids": json.dumps(node_ids) if node_ids else None,
           "created_at": now}
    tx.db.table("schedules").insert(row)
    return str(row["id"])


def update_schedule(tx: WriteJobContext, schedule_id: str, changes: Row) -> None:
    """Store a schedule's changed columns (triggers.schedules decides them: enabling counts from now)."""
    if changes:
        tx.db.table("schedules").update(schedule_id, changes)


def delete_schedule(tx: WriteJobContext, schedule_id: str) -> None:
    if tx.execute("DELETE FROM schedules WHERE id = ?", [schedule_id]).rowcount == 0:
        raise NotFound(f"schedule '{schedule_id}' does not exist")


_CLAIM = ("UPDATE schedules SET last_tick = ?, last_run_id = ?, last_error = ? "
          "WHERE id = ? AND (last_tick IS NULL OR last_tick < ?)")


def claim_tick(tx: WriteJobContext, schedule_id: str, tick: float, run_id: str | None, error: str | None) -> None:
    """Record ``tick`` as handled, unless it (or a later one) already was: then refuse (409)."""
    if tx.execute(_CLAIM, [tick, run_id, error, schedule_id, tick]).rowcount == 0:
        raise Conflict(f"schedule '{schedule_id}' already handled its tick of {tick}")


def forget_deliveries(tx: WriteJobContext, project_id: str, *, before: float) -> None:
    """Webhook delivery ids received before ``before`` fall out of the replay window."""
    tx.execute("DELETE FROM webhook_deliveries WHERE project_id = ? AND received_at < ?", [project_id, before])


def record_delivery(tx: WriteJobContext, project_id: str, delivery: str, received_at: float, run_id: str) -> None:
    """A webhook delivery id and the run it launched (:mod:`orchestra.triggers.deliveries`)."""
    tx.execute("INSERT OR REPLACE INTO webhook_deliveries (project_id, delivery_id, received_at, run_id) "
               "VALUES (?, ?, ?, ?)", [project_id, delivery, received_at, run_id])
