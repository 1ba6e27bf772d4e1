"""The state of a run while it runs, shared by its driver (:mod:`orchestra.runtime.driver`), the agent
attempts (:mod:`orchestra.runtime.execution`), and the node kinds that shape a run: best of N
(:mod:`orchestra.runtime.candidates`), plans (:mod:`orchestra.runtime.plans`) and repair turns
(:mod:`orchestra.runtime.repairs`). It imports none of them, so none of them imports another for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import trio

from orchestra.agents import AgentParser
from orchestra.core.models import Budget
from orchestra.core.prompts import UpstreamResult
from orchestra.core.rows import Node, Template
from orchestra.core.statuses import ExecutionStatus
from orchestra.executors import RunningAgent
from orchestra.runtime.checks import CheckResult
from orchestra.storage.db import WriteJob
from orchestra.workspaces.git_checkpoints import Repository


@dataclass
class Ending:
    """How an execution ended: its status, with the error and the agent's exit code when there are."""

    status: ExecutionStatus
    error: str | None = None
    exit_code: int | None = None
    resume_at: float | None = None  # parked at a usage/rate limit: when it goes on (orchestra/runtime/parking.py)


@dataclass
class SessionContinuation:
    """A turn that continues an agent's session: a person's follow-up or a repair turn."""

    parent_id: str
    session_id: str
    parent_commit: str | None
    worktree: Path | None  # the parent's working directory, re-created: CLIs find sessions by cwd
    ran_on: str | None = None  # where the parent ran: the CLI's session files are there
    merge: str | None = None  # a commit merged into the worktree first, its conflicts left for the agent


@dataclass
class Grown:
    """What a plan node added to its run, for the run's scheduler (:func:`orchestra.runtime.plans.schedule`)."""

    node_ids: list[str]
    sinks: list[str]  # the tasks no other task depends on: the plan node's downstream waits for them
    summary: str  # the plan node's result as its tasks and downstream nodes see it


@dataclass
class RunState:
    """One run as its driver sees it: the nodes it runs, what they produced so far, and its live executions."""

    id: str
    nodes: dict[str, Node]  # node rows of this run, fixed at launch
    templates: dict[str, Template]
    first_execution: dict[str, str]  # node id -> its queued execution
    results: dict[str, UpstreamResult]  # upstream results, including those reused from earlier runs
    commits: dict[str, str]  # node id -> the commit its work ended at (git workspaces)
    workspace: str
    repo: Repository | None = None
    budget: Budget | None = None
    inputs: dict[str, str] = field(default_factory=dict)  # the launch's values of {{inputs.NAME}}
    follow_up: SessionContinuation | None = None
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    cancel_requested: bool = False
    budget_exceeded: str | None = None
    internal_error: str | None = None  # the run's own bookkeeping failed (see RunDriver.drive)
    # A run resumed after a restart: nodes that had already ended, and gates already waiting (since when)
    ended: dict[str, ExecutionStatus] = field(default_factory=dict)
    gates_waiting_since: dict[str, float] = field(default_factory=dict)
    parked: set[str] = field(default_factory=set)  # gates (and parked executions) left waiting while the hub stops
    # A run resumed after a restart: node id -> its execution's row, parked at a usage/rate limit
    limit_parked: dict[str, dict[str, Any]] = field(default_factory=dict)
    grown: dict[str, Grown] = field(default_factory=dict)  # plan node id -> the nodes it added, until scheduled
    spent_cost: float = 0.0
    spent_tokens: int = 0
    handles: dict[str, ExecutionHandle] = field(default_factory=dict)

    def live_usage(self) -> tuple[float, int]:
        cost, tokens = self.spent_cost, self.spent_tokens
        for handle in self.handles.values():
            extra_cost, extra_tokens = handle.turn_usage()
            cost, tokens = cost + extra_cost, tokens + extra_tokens
        return cost, tokens


@dataclass
class ExecutionHandle:
    """One execution of a run while it runs: how to stop it, what it printed, and its writes still in flight."""

    id: str
    node_id: str
    run: RunState
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    stop_ending: Ending | None = None  # why the scope was cancelled, when something chose to stop it
    process: RunningAgent | None = None
    parser: AgentParser | None = None
    checkpoint: dict[str, Any] = field(default_factory=dict)
    decision: trio.Event | None = None  # gates: set when approved or rejected
    decided: Ending | None = None
    comment: str | None = None  # the gate's decision comment, passed downstream as its result
    check: CheckResult | None = None  # how the node's check ended, when it ran
    candidate: int | None = None  # best of N: which candidate of its node (its own branch)
    pickable: dict[str, dict[str, Any]] | None = None  # a best-of-N pick: candidate execution id -> its work
    proposal: str | None = None  # a plan's review: the task list (JSON text) that grows once approved
    unsettled: list[WriteJob[Any]] = field(default_factory=list)  # writes queued but not yet awaited
    # What earlier turns of this same execution reported: a parked one goes on in a new turn, on its row.
    earlier: Spent | None = None

    async def settle(self, keep: int = 0) -> None:
        """Wait for this execution's queued writes but the last ``keep``; raise the first error, if any."""
        while len(self.unsettled) > keep:
            await self.unsettled.pop(0).wait()

    def stop(self, ending: Ending) -> None:
        if self.stop_ending is None:
            self.stop_ending = ending
        self.scope.cancel()

    def ending_changes(self, ending: Ending) -> dict[str, Any]:
        """The execution row's changes at its end: status, error, exit code, what its agent reported, the
        decision at a gate, and its work's commits."""
        changes: dict[str, Any] = {"status": ending.status, "error": ending.error, "exit_code": ending.exit_code,
                                   "finished_at": time.time()}
        process, parser = self.process, self.parser
        if process is not None:
            changes["stderr"] = process.stderr_text
            if ending.exit_code is None:
                changes["exit_code"] = process.returncode
        if parser is not None:
            report = parser.report
            changes |= {"result_text": report.result_text, "session_id": report.session_id,
                        "input_tokens": report.input_tokens, "output_tokens": report.output_tokens,
                        "cost_usd": report.cost_usd}
            if self.earlier is not None:  # the row holds the whole execution's, every turn counted
                changes |= self.earlier.plus(report.cost_usd, report.input_tokens, report.output_tokens)
        if self.decision is not None or self.comment is not None:  # a gate's decision; how a land node landed
            approved = ending.status == ExecutionStatus.SUCCEEDED
            changes["result_text"] = self.comment or ("approved" if approved else None)
        for key in ("base_commit", "commit_sha", "branch"):
            if key in self.checkpoint:
                changes[key] = self.checkpoint[key]
        return changes

    def turn_usage(self) -> tuple[float, int]:
        """Cost and tokens of this turn alone (a run counts each turn once, as it ends)."""
        if self.parser is None:
            return 0.0, 0
        report = self.parser.report
        return report.cost_usd or 0.0, (report.input_tokens or 0) + (report.output_tokens or 0)

    def usage(self) -> tuple[float, int]:
        """Cost and tokens of the whole execution, earlier turns included (what a node's budget limits)."""
        cost, tokens = self.turn_usage()
        if self.earlier is None:
            return cost, tokens
        return cost + (self.earlier.cost_usd or 0.0), tokens + self.earlier.tokens


@dataclass(frozen=True)
class Spent:
    """What an execution's agent reported so far (None: it reported nothing of that kind)."""

    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Spent:
        return cls(row.get("cost_usd"), row.get("input_tokens"), row.get("output_tokens"))

    @property
    def tokens(self) -> int:
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    def plus(self, cost_usd: float | None, input_tokens: int | None, output_tokens: int | None) -> dict[str, Any]:
        """The row's columns once a turn that reported these is added (None stays None only on both sides)."""
        def add(a: float | None, b: float | None) -> float | None:
            return None if a is None and b is None else (a or 0) + (b or 0)
        return {"cost_usd": add(self.cost_usd, cost_usd), "input_tokens": add(self.input_tokens, input_tokens),
                "output_tokens": add(self.output_tokens, output_tokens)}


@dataclass(frozen=True)
class Attempt:
    """One execution the driver is asked to run: the node as this turn runs it, and how.

    ``candidate`` numbers a best-of-N candidate, ``pickable`` makes a gate a pick among candidates,
    ``proposal`` makes it a plan's review, and ``follow_up`` continues an agent's session (a repair).
    """

    node: Node
    execution_id: str
    number: int = 1  # the retry count of the node in its run, 1 for the first
    follow_up: SessionContinuation | None = None
    candidate: int | None = None
    pickable: dict[str, dict[str, Any]] | None = None
    proposal: str | None = None
    may_park: bool = False  # a usage/rate limit parks it (else it fails: best-of-N candidates)
    earlier: Spent | None = None  # a parked execution that goes on: what its earlier turns reported


class Outcome(NamedTuple):
    """How an execution ended, the changes recorded on its row, and its handle (its writes may still be queued)."""

    status: ExecutionStatus
    changes: dict[str, Any]
    handle: ExecutionHandle
