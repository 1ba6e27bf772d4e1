"""Repair turns: a node whose check failed gives its agent's own session another turn, up to its
``max_repairs``, with the check's failure in the prompt (:func:`orchestra.runtime.checks.repair_prompt`).

A repair is a follow-up turn (the template's resume command, the session id the agent reported, the
same working directory re-created from the commit it left), stored as a new execution of the same
node and run whose ``parent_execution_id`` is the execution it repairs. Repair turns count in the
run's budget like any execution; the node's budget bounds the whole chain: no repair starts once the
turns so far have spent it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orchestra.core.errors import Conflict
from orchestra.core.models import Budget
from orchestra.core.rows import Node, Template
from orchestra.core.statuses import EventType, ExecutionStatus, NodeKind
from orchestra.runtime.checks import repair_prompt
from orchestra.runtime.execution import AgentRunner
from orchestra.runtime.run_state import ExecutionHandle, RunState, SessionContinuation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Repair:
    number: int  # 1 for the first repair of an attempt
    prompt: str
    follow_up: SessionContinuation
    spent: tuple[float, int]  # cost and tokens of the attempt's turns so far


def record_no_repair(runner: AgentRunner, handle: ExecutionHandle, changes: dict[str, Any],
                     refused: NoRepair) -> dict[str, Any]:
    """Say why no repair follows: an error event in the execution's log, and its error (its finished event
    again, with the error that says why): the node's failure is never silent."""
    error = f"{changes.get('error') or 'its check failed'}; no repair: {refused.reason}"
    runner.queue_output(handle, [{"kind": "error", "message": f"no repair: {refused.reason}"}])
    runner.queue_status(handle, {"error": error}, EventType.EXECUTION_FINISHED)
    return changes | {"error": error}


def require_resumable(nodes: Iterable[Node], templates: dict[str, Template]) -> None:
    """A launch is refused when a node that may need repairs runs a CLI that cannot continue a session."""
    for node in nodes:
        if node["kind"] != NodeKind.GATE and node["max_repairs"] and node["agent"] is not None \
                and not templates[node["agent"]]["resume_command"]:
            raise Conflict(f"node '{node['id']}' allows repairs, but agent template '{node['agent']}' cannot "
                           "continue a session (it has no resume_command)", {"node_id": node["id"]})


@dataclass(frozen=True)
class NoRepair:
    """A repair the node allows but that cannot happen (its budget is spent, or its agent reported no
    session to continue): :func:`record_no_repair` makes the reason an event and the execution's error."""

    reason: str


def next_repair(run: RunState, node: Node, handle: ExecutionHandle, changes: dict[str, Any],
                previous: Repair | None) -> Repair | NoRepair | None:
    """The repair turn that follows ``handle``'s execution; None when its node is done, NoRepair when a
    repair was due but cannot happen."""
    check, number = handle.check, previous.number + 1 if previous else 1
    if check is None or check.passed or not check.started or changes["status"] != ExecutionStatus.FAILED:
        return None
    if number > node["max_repairs"] or run.budget_exceeded or run.cancel_requested or handle.process is None:
        return None
    cost, tokens = handle.usage()
    spent = (cost + previous.spent[0], tokens + previous.spent[1]) if previous else (cost, tokens)
    budget = Budget.model_validate(node["budget"]) if node["budget"] else None
    over = budget.exceeded(*spent) if budget else None
    session = changes.get("session_id")
    if over or not session:
        reason = over or (f"its agent reported no session id, so agent template '{node['agent']}' cannot "
                          "continue its session (resume_command)")
        log.warning("no repair of execution %s: %s", handle.id, reason)
        return NoRepair(reason)
    worktree = handle.process.spec.cwd if run.repo is not None else None
    follow_up = SessionContinuation(handle.id, session, changes.get("commit_sha"), worktree, handle.process.where)
    return Repair(number, repair_prompt(check, number, node["max_repairs"]), follow_up, spent)
