"""A plan node's grown tasks go with it: deleting the plan node, or changing it into another kind, removes
the nodes it grew (``planned_by``) in the same transaction, each with its ``node.deleted`` event.

Left behind, they pointed at nothing, were left out of the flow export (which skips grown nodes), a
re-apply said "no changes", and the next launch ran them. A grown node with an unfinished execution
refuses the whole change (409), as deleting it alone would.
"""

from __future__ import annotations

from typing import Any

from orchestra.core.rows import Node
from orchestra.core.statuses import NodeKind
from orchestra.storage import store
from orchestra.storage.db import WriteJobContext


def remove_grown(tx: WriteJobContext, project_id: str, plan_id: str) -> list[str]:
    """Delete the nodes ``plan_id`` grew, the last grown first (a task after those it depends on);
    return their ids."""
    grown = [node for (node,) in tx.execute(
        "SELECT id FROM nodes WHERE project_id = ? AND planned_by = ? ORDER BY rowid DESC", [project_id, plan_id])]
    for node_id in grown:
        store.delete_node(tx, project_id, node_id)
    return grown


def delete_node(tx: WriteJobContext, project_id: str, node_id: str) -> None:
    """Delete a node, and its grown tasks first when it is a plan node."""
    store.get_node(tx.db, project_id, node_id)  # 404 before anything else
    remove_grown(tx, project_id, node_id)
    store.delete_node(tx, project_id, node_id)


def update_node(tx: WriteJobContext, project_id: str, node_id: str, changes: dict[str, Any],
                builtin_ids: tuple[str, ...]) -> Node:
    """Update a node; a plan node changed into another kind loses its grown tasks."""
    was_plan = store.get_node(tx.db, project_id, node_id)["kind"] == NodeKind.PLAN
    if was_plan and changes.get("kind") not in (None, NodeKind.PLAN):
        remove_grown(tx, project_id, node_id)
    return store.update_node(tx, project_id, node_id, changes, builtin_ids)
