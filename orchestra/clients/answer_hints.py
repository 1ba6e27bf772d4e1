"""The line ``watch`` and ``launch --until-done`` print when a gate, a pick or a plan review starts waiting:
the exact command that answers it (orchestra/clients/inbox.py), so that a person who launched from a
terminal is never left at a silent "[gate] started gate"."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestra.core.statuses import AttentionKind, ExecutionStatus, NodeKind


def waiting_kind(node: dict[str, Any] | None) -> AttentionKind:
    """What a waiting execution of ``node`` waits for (as GET /attention names it)."""
    if node is not None and node.get("kind") == NodeKind.PLAN:
        return AttentionKind.PLAN_REVIEW
    if node is not None and node.get("candidates"):
        return AttentionKind.PICK
    return AttentionKind.GATE


def answer_hint(kind: str, execution_id: str, candidates: Iterable[str] = ()) -> str:
    """The exact command(s) that answer a waiting execution of ``kind``."""
    if kind == AttentionKind.PICK:
        chosen = list(candidates)
        listed = f" (candidates that succeeded: {', '.join(chosen)})" if chosen else " (orchestra inbox lists them)"
        return (f"waiting for a pick: orchestra pick {execution_id} CANDIDATE_EXECUTION{listed}; "
                f"or orchestra reject {execution_id} --comment TEXT")
    what = "a plan review" if kind == AttentionKind.PLAN_REVIEW else "a decision"
    return (f"waiting for {what}: orchestra approve {execution_id} [--comment TEXT]; "
            f"or orchestra reject {execution_id} [--comment TEXT]")



class HintTracker:
    """Follows a project's events for what a hint needs: the nodes (their kind) and, per node, the
    candidates that succeeded (a pick lists them)."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.succeeded: dict[str, list[str]] = {}

    def snapshot(self, nodes: list[dict[str, Any]]) -> None:
        self.nodes = {node["id"]: node for node in nodes}

    def hint(self, event: dict[str, Any]) -> str | None:
        """The hint for ``event``, if it is an execution that starts waiting for a person."""
        node_id, execution = event.get("node_id"), event.get("execution")
        if event.get("type", "").startswith("node.") and node_id and "node" in event:
            self.nodes[node_id] = event["node"]
        if not isinstance(execution, dict) or not node_id:
            return None
        if execution.get("candidate") and execution.get("status") == ExecutionStatus.SUCCEEDED:
            self.succeeded.setdefault(node_id, []).append(execution["id"])
        if execution.get("status") != ExecutionStatus.WAITING:
            return None
        return answer_hint(waiting_kind(self.nodes.get(node_id)), execution["id"], self.succeeded.get(node_id, ()))
