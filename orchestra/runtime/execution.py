"""One attempt of one agent node: build its argv, check out its git worktree, run the agent,
store what it prints, enforce its budgets, and say how it ended (a :class:`Ending`).

The process itself is behind an :class:`~orchestra.executors.Executor` (local or on a Ray cluster);
this module is the policy around it and does not know which one ran it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import trio

from orchestra.agents import make_parser
from orchestra.agents.templates import (
    ARGUMENT_PROMPT_MAX_BYTES,
    build_argv,
    inherited_environment,
    prompt_on_stdin,
    too_long_argument,
)
from orchestra.core.models import Budget
from orchestra.core.prompts import render_prompt
from orchestra.core.rows import Node, Template
from orchestra.core.statuses import EventType, ExecutionStatus, ProcessEnd
from orchestra.executors import Executor, RunningAgent
from orchestra.executors.sandbox import Sandbox
from orchestra.executors.spec import RECOVERY_COLUMNS, AgentSpec, OutputHandler, SpawnError
from orchestra.runtime import checks
from orchestra.runtime.run_state import Ending, ExecutionHandle, RunState, SessionContinuation
from orchestra.storage import transitions
from orchestra.storage.db import Database
from orchestra.system.bwrap import SandboxSpec
from orchestra.system.lines import Line
from orchestra.workspaces import git_checkpoints, landing
from orchestra.workspaces.git_checkpoints import Checkout, GitError, MergeConflict

log = logging.getLogger(__name__)

RAW_LINE_KEEP = 64 * 1024
# Recording an execution's work is bounded by git_checkpoints.record itself; this is only a backstop.
SHIELDED_CLEANUP_S = git_checkpoints.RECORD_BUDGET_S + git_checkpoints.RECORD_OVERRUN_S + 10.0


def _without_nul(prompt: str) -> tuple[str, list[dict[str, Any]]]:
    """NUL characters (from an upstream result: the API refuses them elsewhere) cannot be passed to a
    process; they are removed, and a system event says so."""
    if "\x00" not in prompt:
        return prompt, []
    note = {"kind": "system", "subtype": "prompt", "message": f"removed {prompt.count(chr(0))} NUL character(s) "
            "from the prompt (an upstream result carried them; a command line cannot)"}
    return prompt.replace("\x00", ""), [note]


class AgentRunner:
    """Runs agent attempts for one project actor."""

    def __init__(self, db: Database, project_id: str, grace_s: float, worktrees_root: Path,
                 limiters: tuple[trio.CapacityLimiter, trio.CapacityLimiter], executor: Executor,
                 sandbox: Sandbox) -> None:
        self.db = db
        self.executor = executor
        self.sandbox = sandbox
        self.project_id = project_id
        self.grace_s = grace_s
        self.worktrees_root = worktrees_root
        self.limiters = limiters
        self.inherited_env = inherited_environment()

    async def attempt(self, run: RunState, node: Node, handle: ExecutionHandle, attempt: int,
                      follow_up: SessionContinuation | None = None) -> Ending:
        """Run the agent (continuing a session: ``follow_up``, else the run's), then the node's check."""
        agent = node["agent"]
        assert agent is not None  # an agent node
        template = run.templates[agent]
        follow_up = follow_up or run.follow_up
        prompt, argv_template, session_id = self._prompt_and_command(run, node, template, follow_up)
        prompt, notes = _without_nul(prompt)
        stdin = None
        stdin_prompt = template.get("stdin_prompt")
        if len(prompt.encode(errors="surrogateescape")) > ARGUMENT_PROMPT_MAX_BYTES and stdin_prompt:
            argv_template, stdin = prompt_on_stdin(argv_template, stdin_prompt), prompt.encode()
        handle.parser = make_parser(template["output"], tuple(template.get("limit_patterns") or ()))
        project_limiter, hub_limiter = self.limiters
        async with project_limiter, hub_limiter:
            checkout: Checkout | None = None
            if run.repo is not None:
                try:
                    checkout = await self._checkout(run, node, handle, attempt, follow_up)
                except GitError as exc:
                    detail = {"files": exc.files} if isinstance(exc, MergeConflict) else {}
                    return self._not_started(handle, prompt, [], run.workspace, str(exc), detail)
            cwd = str(checkout.path) if checkout else run.workspace
            argv = build_argv(argv_template, {"prompt": prompt, "model": node["model"] or template["default_model"],
                                              "workspace": cwd, "session_id": session_id})
            not_recorded = None
            try:
                oversized = too_long_argument(argv)
                if oversized:
                    message = (f"an argument of {oversized:,} bytes is over Linux's 131,072-byte limit, and agent "
                               f"template '{template['id']}' cannot take the prompt on stdin (stdin_prompt)")
                    return self._not_started(handle, prompt, [], cwd, message)
                ending = await self._run_process(run, node, handle, prompt, argv, cwd, template, stdin, notes)
                if ending.status == ExecutionStatus.SUCCEEDED and node["check"]:
                    ending = await self._check(run, node, template, handle, cwd, ending)
            finally:
                if checkout is not None:
                    not_recorded = await self._record(run, node, handle, checkout)
        if not_recorded and ending.status == ExecutionStatus.SUCCEEDED:  # on no branch: downstream cannot build on it
            return Ending(ExecutionStatus.FAILED, not_recorded, ending.exit_code)
        return ending

    async def _check(self, run: RunState, node: Node, template: Template, handle: ExecutionHandle, cwd: str,
                     agent_ending: Ending) -> Ending:
        """The node's check, where the agent worked, in the agent's sandbox (see :mod:`orchestra.runtime.checks`)."""
        assert node["check"] is not None
        self._queue_check_event(handle, EventType.CHECK_STARTED, {"argv": node["check"]})
        spec = AgentSpec(handle.id, node["check"], Path(cwd), self.sandbox.environment(template, self.inherited_env),
                         sandbox=await self._sandbox_spec(run, node, template))
        handle.check = await checks.run_check(spec, node["check_timeout_s"] or checks.CHECK_TIMEOUT_S, self.grace_s)
        self._queue_check_event(handle, EventType.CHECK_FINISHED, handle.check.event())
        if handle.check.passed:
            return agent_ending
        return Ending(ExecutionStatus.FAILED, handle.check.failure(), agent_ending.exit_code)

    def _queue_check_event(self, handle: ExecutionHandle, event: EventType, check: dict[str, Any]) -> None:
        ids = {"run_id": handle.run.id, "node_id": handle.node_id, "execution_id": handle.id}
        handle.unsettled.append(self.db.submit(
            lambda tx: transitions.store_check_event(tx, self.project_id, ids, event, check), wait_for_storage=True))

    def _prompt_and_command(self, run: RunState, node: Node, template: Template,
                            follow_up: SessionContinuation | None) -> tuple[str, list[str], str | None]:
        if follow_up is not None:
            assert template["resume_command"] is not None  # checked before the follow-up was stored
            return node["prompt"], template["resume_command"], follow_up.session_id
        upstream = [run.results[up] for up in node["depends_on"] if up in run.results]
        return render_prompt(node["prompt"], upstream, run.inputs), template["command"], None

    async def _checkout(self, run: RunState, node: Node, handle: ExecutionHandle,
                        attempt: int, follow_up: SessionContinuation | None) -> Checkout:
        assert run.repo is not None
        branch = (f"orchestra/{run.id}/{node['id']}" + (f"-c{handle.candidate}" if handle.candidate else "")
                  + (f"-{attempt}" if attempt > 1 else ""))
        if follow_up is not None:
            upstream = [follow_up.parent_commit] if follow_up.parent_commit else []
            path = follow_up.worktree
        else:
            upstream = [run.commits[up] for up in node["depends_on"] if up in run.commits]
            path = None
        checkout = await git_checkpoints.prepare(run.repo, path or self.worktrees_root / handle.id, branch, upstream)
        handle.checkpoint = {"base_commit": checkout.base_commit}
        if follow_up is not None and follow_up.merge:  # a merge conflict's repair turn (runtime/merge_repairs.py)
            await landing.start_merge(checkout.path, follow_up.merge)
        return checkout

    async def _record(self, run: RunState, node: Node, handle: ExecutionHandle,
                      checkout: Checkout) -> str | None:
        """Commit the agent's work on its branch, shielded (even a cancelled execution keeps its work);
        return why it could not be, if so."""
        assert run.repo is not None
        message = None
        with trio.move_on_after(SHIELDED_CLEANUP_S) as cleanup:
            cleanup.shield = True
            try:
                commit = await git_checkpoints.record(run.repo, checkout, f"orchestra: {node['title']} ({handle.id})")
            except GitError as exc:
                message = f"could not record the work: {exc}"
            else:
                handle.checkpoint["commit_sha"] = commit
                if commit != checkout.base_commit:
                    handle.checkpoint["branch"] = checkout.branch
        if cleanup.cancelled_caught:
            message = f"could not record the work: it did not finish within {SHIELDED_CLEANUP_S:g} s"
        if message:
            self.queue_output(handle, [{"kind": "error", "message": message}])
        return message

    async def _run_process(self, run: RunState, node: Node, handle: ExecutionHandle, prompt: str,
                           argv: list[str], cwd: str, template: Template, stdin: bytes | None,
                           notes: list[dict[str, Any]]) -> Ending:
        executor_options = node.get("placement") or template.get("placement") or {}
        spec = AgentSpec(handle.id, argv, Path(cwd), self.sandbox.environment(template, self.inherited_env),
                         stdin, executor_options, run.follow_up.ran_on if run.follow_up else None,
                         await self._sandbox_spec(run, node, template))
        async with AsyncExitStack() as stack:  # the agent's process tree is gone when this block ends
            try:
                process = await stack.enter_async_context(self.executor.open(spec, self.grace_s))
            except SpawnError as exc:
                return self._not_started(handle, prompt, argv, cwd, str(exc))
            handle.process = process
            self._queue_started(handle, prompt, argv, process, cwd,
                                self.sandbox.describe(template, node.get("network")))
            if notes:
                self.queue_output(handle, notes)
            # DEBUG: a journal line per start costs ~0.1 ms of the hub's CPU (docs/PERFORMANCE.md).
            log.debug("execution started", extra={"run_id": run.id, "node_id": node["id"],
                                                  "execution_id": handle.id, **process.recovery_fields,
                                                  "agent": node["agent"], "where": process.where})
            timeout = node["timeout_s"]
            budget = node.get("budget")
            node_budget = Budget.model_validate(budget) if budget else None  # parsed once per execution
            wall = node_budget.wall_s if node_budget and node_budget.wall_s else math.inf
            with trio.move_on_after(timeout if timeout else math.inf) as deadline:
                with trio.move_on_after(wall) as over_wall:
                    process_exit = await process.run(self._output_handler(run, handle, node_budget))
        if deadline.cancelled_caught:
            message = f"timed out after {timeout:g} s; the agent was stopped"
            self.queue_output(handle, [{"kind": "error", "message": message}])
            return Ending(ExecutionStatus.TIMED_OUT, message)
        if over_wall.cancelled_caught:
            message = f"node budget exceeded: wall time over {wall:g} s; the agent was stopped"
            self.queue_output(handle, [{"kind": "error", "message": message}])
            return Ending(ExecutionStatus.FAILED, message)
        if process_exit.kind == ProcessEnd.LOST:
            message = f"lost: {process_exit.reason}; it is not run again"
            self.queue_output(handle, [{"kind": "error", "message": message}])
            return Ending(ExecutionStatus.LOST, message)
        parser = handle.parser
        assert parser is not None
        closing = parser.finish(process_exit.exit_code, process.stderr_text)
        if closing:
            self.queue_output(handle, closing)
        if parser.report.succeeded:
            return Ending(ExecutionStatus.SUCCEEDED, None, process_exit.exit_code)
        if parser.report.limit is not None:  # the driver decides when it goes on (orchestra/runtime/parking.py)
            return Ending(ExecutionStatus.PARKED, parser.report.error, process_exit.exit_code)
        return Ending(ExecutionStatus.FAILED, parser.report.error, process_exit.exit_code)

    async def _sandbox_spec(self, run: RunState, node: Node, template: Template) -> SandboxSpec | None:
        """The execution's sandbox: its template's (the node's network, if it says), with the project
        repository's git directory writable (a worktree's objects, refs and index live there)."""
        if not self.sandbox.on:
            return None
        git_dir = run.repo.path / ".git" if run.repo is not None else None
        if not self.sandbox.creates_directories(template):  # no blocking work: spare the thread hop
            return self.sandbox.spec_for(template, git_dir, node.get("network"))
        return await trio.to_thread.run_sync(self.sandbox.spec_for, template, git_dir, node.get("network"))

    def _output_handler(self, run: RunState, handle: ExecutionHandle, node_budget: Budget | None) -> OutputHandler:
        parser = handle.parser
        assert parser is not None

        async def on_output(lines: list[Line]) -> None:
            events: list[dict[str, Any]] = []
            for line in lines:
                text = line.data.decode("utf-8", errors="replace")
                if line.truncated:
                    events.append({"kind": "raw", "line": text[:RAW_LINE_KEEP], "truncated": line.length})
                else:
                    events.extend(parser.feed(text))
            if events:
                # At most two writes in flight per agent: the next chunk is read while the last ones
                # commit, and an agent that prints faster than the database writes is held up by its pipe.
                await handle.settle(keep=1)
                self.queue_output(handle, events)
            if any(event["kind"] == "usage" for event in events):
                self._check_budgets(run, node_budget, handle)

        return on_output

    def _check_budgets(self, run: RunState, node_budget: Budget | None, handle: ExecutionHandle) -> None:
        cost, tokens = handle.usage()
        over = node_budget.exceeded(cost, tokens) if node_budget else None
        if over:
            message = f"node budget exceeded: {over}; the agent was stopped"
            self.queue_output(handle, [{"kind": "error", "message": message}])
            handle.stop(Ending(ExecutionStatus.FAILED, message))
            return
        if run.budget is None or run.budget_exceeded:
            return
        over = run.budget.exceeded(*run.live_usage())
        if over:
            run.budget_exceeded = f"run budget exceeded: {over}; the run's agents were stopped"
            self.stop_run(run, run.budget_exceeded)

    def stop_run(self, run: RunState, message: str) -> None:
        """Stop every live execution of a run as failed. Each one's error event is queued before its
        finished event; stopping the calling execution cancels it at its next checkpoint."""
        live = list(run.handles.values())
        for handle in live:
            self.queue_output(handle, [{"kind": "error", "message": message}])
        for handle in live:
            handle.stop(Ending(ExecutionStatus.FAILED, message))

    def _not_started(self, handle: ExecutionHandle, prompt: str, argv: list[str], cwd: str, message: str,
                     detail: dict[str, Any] | None = None) -> Ending:
        """An agent that could not be started: its start (with no process) and the reason are stored."""
        self._queue_started(handle, prompt, argv, None, cwd, None)
        self.queue_output(handle, [{"kind": "error", "message": message, **(detail or {})}])
        return Ending(ExecutionStatus.FAILED, message)

    def _queue_started(self, handle: ExecutionHandle, prompt: str, argv: list[str],
                       process: RunningAgent | None, cwd: str, sandbox: str | None) -> None:
        """Queued, not awaited: the agent's output is pumped while its start is being stored."""
        changes = {"status": ExecutionStatus.RUNNING, "prompt": prompt, "argv": json.dumps(argv),
                   "started_at": time.time(), "workspace": cwd,
                   "base_commit": handle.checkpoint.get("base_commit"),
                   "ran_on": process.where if process else None, "resume_at": None, "error": None,
                   "sandbox": sandbox,
                   # a parked execution resumed runs again in the same row: no earlier process's pid stays
                   **dict.fromkeys(RECOVERY_COLUMNS), **(process.recovery_fields if process else {})}
        self.queue_status(handle, changes, EventType.EXECUTION_STARTED)

    def queue_status(self, handle: ExecutionHandle, changes: dict[str, Any], event: EventType) -> None:
        """Queue a change of the execution's row and its ``event``, after what it queued before."""
        handle.unsettled.append(self.db.submit(lambda tx: transitions.update_execution(
            tx, self.project_id, handle.id, changes, event), wait_for_storage=True))

    def queue_output(self, handle: ExecutionHandle, outputs: list[dict[str, Any]]) -> None:
        """Queue output events of an execution; they commit in order, before its finished event."""
        ids = {"run_id": handle.run.id, "node_id": handle.node_id, "execution_id": handle.id}
        handle.unsettled.append(self.db.submit(
            lambda tx: transitions.store_outputs(tx, self.project_id, ids, outputs), wait_for_storage=True))
