"""Best of N: a node with ``candidates`` runs N executions of its prompt side by side, each in a worktree
and on a branch of its own (``orchestra/<run>/<node>-c<k>``), and keeps one.

``candidates: 3`` runs the node's agent three times; ``candidates: ["claude-code", "codex", "gemini"]``
one execution per agent. With a ``check``, the first candidate whose check passes is the node's
result and the others still running are cancelled; none passing fails the node. Without one, the
node waits for a person's pick, as a gate does: a waiting execution (agent ``gate``) approved with
``{"candidate": "<execution id>"}`` among the candidates that succeeded (rejecting it fails the node).
Either way, the chosen candidate's result and commit are what downstream nodes build on; every
candidate's execution, events and branch stay.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils
import trio

from orchestra.core.errors import Conflict, Unprocessable
from orchestra.core.rows import Node
from orchestra.core.statuses import ExecutionStatus, NodeKind
from orchestra.runtime.hooks import AttemptRunner
from orchestra.runtime.run_state import Attempt, Ending, ExecutionHandle, Outcome, RunState
from orchestra.storage import transitions
from orchestra.storage.db import Database, WriteJobContext, fetch_rows

_WORK = ("base_commit", "commit_sha", "branch")


def agents(node: Node) -> list[str]:
    """The agent of each candidate of a best-of-N node."""
    candidates, agent = node["candidates"], node["agent"]
    assert candidates and agent is not None
    return list(candidates) if isinstance(candidates, list) else [agent] * candidates


def _insert(tx: WriteJobContext, project_id: str, run_id: str, node: Node) -> list[str]:
    """Queue candidates 2..N (the launch queued the first)."""
    rows = [transitions.execution_row(project_id, run_id, node, 1) | transitions.candidate_fields(node, number)
            for number in range(2, len(agents(node)) + 1)]
    return transitions.queue_executions(tx, project_id, run_id, rows)


async def run(run: RunState, node: Node, runner: AttemptRunner, db: Database, project_id: str) -> Outcome:
    """Run a best-of-N node: its candidates, then the check's or a person's choice."""
    first = run.first_execution[node["id"]]
    if first in run.gates_waiting_since:  # a pick left waiting by a previous hub
        done = await db.read(lambda d: _succeeded_candidates(d, run.id, node["id"]))
        return await _pick(run, node, runner, db, project_id, first, done)
    ids = [first, *await db.write(lambda tx: _insert(tx, project_id, run.id, node), wait_for_storage=True)]
    outcomes: dict[str, Outcome] = {}
    winner: list[str] = []

    async def candidate(number: int, execution_id: str, agent: str) -> None:
        turn = node | {"agent": agent, "model": node["model"] if agent == node["agent"] else None}
        outcomes[execution_id] = outcome = await runner.execute(run, Attempt(turn, execution_id, candidate=number))
        if node["check"] and outcome[0] == ExecutionStatus.SUCCEEDED and not winner:
            winner.append(execution_id)
            for other in ids:
                handle = run.handles.get(other)
                if handle is not None:
                    handle.stop(Ending(ExecutionStatus.CANCELLED,
                                       f"candidate {number} ({execution_id}) passed the check first"))

    async with trio.open_nursery() as nursery:
        for number, (execution_id, agent) in enumerate(zip(ids, agents(node), strict=True), start=1):
            nursery.start_soon(candidate, number, execution_id, agent)
    if winner:
        return outcomes[winner[0]]
    succeeded = {i: o[1] for i, o in outcomes.items() if o[0] == ExecutionStatus.SUCCEEDED}
    if node["check"] or not succeeded:
        _, changes, handle = outcomes[first]
        return Outcome(ExecutionStatus.FAILED, changes, handle)
    return await _pick(run, node, runner, db, project_id, None, succeeded)


async def _pick(run: RunState, node: Node, runner: AttemptRunner, db: Database, project_id: str, pick_id: str | None,
                succeeded: dict[str, dict[str, Any]]) -> Outcome:
    """Wait for a person to approve one of the candidates that succeeded (or reject them all)."""
    if pick_id is None:
        pick_id = await db.write(lambda tx: transitions.insert_decision(tx, project_id, run.id, node),
                                 wait_for_storage=True)
    pickable = {i: {key: changes.get(key) for key in _WORK} | {"execution_id": i} for i, changes in succeeded.items()}
    gate = node | {"kind": NodeKind.GATE, "agent": None, "timeout_s": None}
    status, changes, handle = await runner.execute(run, Attempt(gate, pick_id, pickable=pickable))
    picked = handle.checkpoint.get("execution_id")
    if status != ExecutionStatus.SUCCEEDED or picked is None:
        return Outcome(status, changes, handle)
    return Outcome(status, succeeded[picked], handle)


def _succeeded_candidates(db: sqlite_utils.Database, run_id: str, node_id: str) -> dict[str, dict[str, Any]]:
    rows = fetch_rows(db, "SELECT id, result_text, base_commit, commit_sha, branch FROM executions WHERE run_id = ? "
                      f"AND node_id = ? AND candidate IS NOT NULL AND status = '{ExecutionStatus.SUCCEEDED}'",
                      [run_id, node_id])
    return {row["id"]: row for row in rows}


def pick(handle: ExecutionHandle, candidate: str | None, comment: str | None) -> str:
    """Choose ``candidate`` at a waiting best-of-N pick; return the pick's result text."""
    if handle.pickable is None:
        raise Conflict(f"execution '{handle.id}' is a gate, not a pick among candidates: approve it without "
                       "'candidate'")
    if candidate not in handle.pickable:
        choices = ", ".join(handle.pickable)
        raise Unprocessable(f"'candidate' must name one of the candidates that succeeded: {choices}",
                            {"field": "candidate", "choices": list(handle.pickable)})
    handle.checkpoint = dict(handle.pickable[candidate])
    return f"picked {candidate}" + (f": {comment}" if comment else "")

