"""What a launch (or a run resumed after a restart) runs: the nodes it selects, and the latest successful
results of the upstream nodes it reuses instead of running them again. Reads only; the run itself is
stored by :func:`orchestra.storage.transitions.insert_run`.
"""

from __future__ import annotations

from collections.abc import Container
from typing import TypedDict

import sqlite_utils

from orchestra.core.dag import downstream_of
from orchestra.core.errors import Conflict, Unprocessable
from orchestra.core.prompts import input_names
from orchestra.core.rows import Execution, Node, Project, Run
from orchestra.core.statuses import ExecutionStatus
from orchestra.storage import history, store

_LATEST_SUCCESS = ("SELECT result_text, commit_sha FROM executions WHERE project_id = ? AND node_id = ? "
                   f"AND status = '{ExecutionStatus.SUCCEEDED}' ORDER BY num DESC LIMIT 1")


class Reused(TypedDict):
    """The latest successful result of an upstream node a run does not run again."""

    title: str
    result: str
    commit: str | None


class LaunchSelection(TypedDict):
    project: Project
    nodes: dict[str, Node]  # the nodes the launch runs, in the project's order
    reused: dict[str, Reused]


class ResumeSelection(LaunchSelection):
    run: Run
    latest: dict[str, Execution]  # node id -> its latest execution in the run


def select_launch(db: sqlite_utils.Database, project_id: str, node_ids: list[str] | None,
                inputs: dict[str, str] | None = None) -> LaunchSelection:
    """The nodes a launch runs, and the latest successful results of the upstream nodes it reuses;
    422 when their prompts use an input the launch does not give."""
    project = store.get_project(db, project_id)
    nodes = {node["id"]: node for node in store.list_nodes(db, project_id)}
    if not nodes:
        raise Conflict(f"project '{project_id}' has no nodes to launch")
    graph = {node_id: node["depends_on"] for node_id, node in nodes.items()}
    if node_ids is None:
        selected = set(nodes)
    else:
        missing = [n for n in node_ids if n not in nodes]
        if missing:
            raise Unprocessable(f"node(s) not in project '{project_id}': {', '.join(missing)}",
                                {"field": "node_ids", "missing": missing})
        selected = downstream_of(graph, node_ids)
    # A plan node that runs again grows its tasks anew (orchestra/runtime/plans.py): those it grew before are left out.
    regrown = {node_id for node_id in selected if nodes[node_id]["planned_by"] in selected}
    selected -= regrown
    ordered = {node_id: nodes[node_id] for node_id in nodes if node_id in selected}
    missing = sorted(input_names(node["prompt"] for node in ordered.values()) - set(inputs or {}))
    if missing:
        users = sorted(n for n, node in ordered.items() if input_names([node["prompt"]]) & set(missing))
        raise Unprocessable(f"missing launch input(s) {', '.join(missing)}: used by node(s) {', '.join(users)}; "
                            "give them in the launch's 'inputs' (CLI: --set NAME=value)",
                            {"field": "inputs", "missing": missing})
    reused = _reused_results(db, project_id, nodes, selected, regrown)
    return {"project": project, "nodes": ordered, "reused": reused}


def _reused_results(db: sqlite_utils.Database, project_id: str, nodes: dict[str, Node],
                    selected: set[str], regrown: Container[str] = ()) -> dict[str, Reused]:
    """The latest successful results of the nodes outside ``selected`` that selected nodes depend on
    (but ``regrown``: tasks their plan node replaces in this run)."""
    reused: dict[str, Reused] = {}
    for node_id in selected:
        for up in nodes[node_id]["depends_on"]:
            if up in selected or up in reused or up in regrown:
                continue
            row = db.execute(_LATEST_SUCCESS, [project_id, up]).fetchone()
            if row is None:
                raise Conflict(
                    f"node '{node_id}' depends on '{up}', which has never succeeded; launch '{up}' too",
                    {"node_id": node_id, "upstream": up})
            reused[up] = {"title": nodes[up]["title"], "result": row[0] or "", "commit": row[1]}
    return reused


def select_resume(db: sqlite_utils.Database, project_id: str, run_id: str) -> ResumeSelection:
    """What a run left waiting at a gate across a restart needs to go on: its nodes (as they are
    now), each node's latest execution, and the results it builds on."""
    project = store.get_project(db, project_id)
    run = history.get_run(db, run_id)
    latest: dict[str, Execution] = {}
    for execution in run["executions"]:  # by num: a retry comes after its first attempt
        latest[execution["node_id"]] = execution
    nodes = {node["id"]: node for node in store.list_nodes(db, project_id)}
    missing = sorted(set(latest) - set(nodes))
    if missing:
        raise Conflict(f"node(s) {', '.join(missing)} of run '{run_id}' were deleted")
    selected = {node_id: nodes[node_id] for node_id in nodes if node_id in latest}
    reused = _reused_results(db, project_id, nodes, set(selected))
    return {"project": project, "run": run, "nodes": selected, "latest": latest, "reused": reused}
