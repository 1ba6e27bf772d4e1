"""What a node must be before it is stored: its id (free, or made from its title), its agent, its check,
its plan limits, its candidates, and dependencies that name nodes of the project and close no cycle.

Each check reads what it needs and raises the API's error (422, or 409 for a cycle or a taken id);
:mod:`orchestra.storage.definitions` calls them inside the write's transaction, so what they read
cannot change before the write.
"""

from __future__ import annotations

import re

import sqlite_utils

from orchestra.core.dag import find_cycle
from orchestra.core.errors import Conflict, Unprocessable
from orchestra.core.statuses import NodeKind
from orchestra.storage.db import Row
from orchestra.storage.store import dependency_graph


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")  # one class: linear
    return slug or "node"


def free_node_id(db: sqlite_utils.Database, project_id: str, title: str) -> str:
    base = _slug(title)
    taken = {r[0] for r in db.execute(
        "SELECT id FROM nodes WHERE project_id = ? AND (id = ? OR id LIKE ?)",
        [project_id, base, base + "-%"])}
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def check_dependencies(
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


AGENTLESS: dict[str, str] = {NodeKind.GATE: "gate", NodeKind.LAND: "land node"}  # kinds that run no agent


def check_agent(db: sqlite_utils.Database, kind: str, agent: str | None, builtin_ids: tuple[str, ...]) -> None:
    if kind in AGENTLESS:
        if agent:
            raise Unprocessable(f"a {AGENTLESS[kind]} runs no agent: leave 'agent' out", {"field": "agent"})
        return
    if not agent:
        raise Unprocessable("an agent node needs 'agent', the id of an agent template", {"field": "agent"})
    if agent in builtin_ids:
        return
    if db.execute("SELECT 1 FROM agent_templates WHERE id = ?", [agent]).fetchone() is None:
        raise Unprocessable(f"agent template '{agent}' does not exist", {"field": "agent"})


def check_check(kind: str, check: list[str] | None, max_repairs: int) -> None:
    """A check belongs to a node that runs an agent; repair turns need a check to repair against (a land
    node's repair turns repair merge conflicts: the conflicting node's own check runs on the merge)."""
    if check and kind in AGENTLESS:
        raise Unprocessable(f"a {AGENTLESS[kind]} runs no agent, so no check: leave 'check' out", {"field": "check"})
    if max_repairs and not check and kind != NodeKind.LAND:
        raise Unprocessable("'max_repairs' needs a 'check' whose failures the agent repairs",
                            {"field": "max_repairs"})


def check_land(kind: str, land: Row | None) -> None:
    """A land node says how it lands (models.LandSettings); no other node has landing settings."""
    if (kind == NodeKind.LAND) != bool(land):
        raise Unprocessable("a land node needs 'land' ({\"mode\": \"merge\"|\"push\"|\"pull_request\", ...}), and "
                            "only a node of kind 'land' has it", {"field": "land"})


def check_plan_limits(kind: str, fields: Row) -> None:
    for field in ("max_tasks", "max_depth", "review_plan"):
        if fields.get(field) and kind != NodeKind.PLAN:
            raise Unprocessable(f"'{field}' limits a plan node's task list: set 'kind' to 'plan' or leave it out",
                                {"field": field})


def check_candidates(db: sqlite_utils.Database, node: Row, builtin_ids: tuple[str, ...]) -> None:
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
