"""ProjectActor: the single writer of one project's runs and executions.

Routes send it commands through the hub (launch, follow-up, cancel, approve/reject, delete: the
typed messages of :mod:`orchestra.commands`) and await the reply. Each run is a task in the actor's
nursery that starts nodes as their upstream nodes succeed; each execution is a task of its run.
Cancelling a scope ends the agents below it (their process groups are killed by
:mod:`orchestra.process`), and every execution's final state is written, shielded, on the way out.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import trio

from orchestra.core.dag import downstream_of
from orchestra.core.errors import ApiError, Conflict, StorageUnavailable, Unprocessable
from orchestra.core.logging_setup import log_context
from orchestra.core.models import Budget
from orchestra.core.prompts import UpstreamResult
from orchestra.core.rows import LaunchedRun, Node, Project, Template
from orchestra.core.settings import Settings
from orchestra.core.statuses import (
    FINAL_EXECUTION_STATUSES,
    RETRIED_EXECUTION_STATUSES,
    UNSUCCESSFUL_EXECUTION_STATUSES,
    EventType,
    ExecutionStatus,
    NodeKind,
    RunStatus,
)
from orchestra.executors import Executor
from orchestra.executors.sandbox import Sandbox
from orchestra.flows import files as flows
from orchestra.runtime import candidates, commands, plans, repairs
from orchestra.runtime.execution import AgentRunner, Ending, ExecutionHandle, FollowUp, RunState
from orchestra.storage import history, store, transitions
from orchestra.storage.db import Database
from orchestra.workspaces import git_checkpoints

log = logging.getLogger(__name__)

RETRY_BACKOFF_MAX_S = 60.0
FINAL_WRITE_TIMEOUT_S = 30.0


class HubServices(Protocol):
    """What a :class:`ProjectActor` needs from its hub (:class:`orchestra.hub.Hub`)."""

    @property
    def db(self) -> Database: ...

    @property
    def settings(self) -> Settings: ...  # max_parallel, kill_grace_s, workspaces_root

    @property
    def limiter(self) -> trio.CapacityLimiter: ...  # the hub-wide limit on running agents

    @property
    def executor(self) -> Executor: ...  # where agents run (local or a Ray cluster)

    @property
    def sandbox(self) -> Sandbox: ...  # what agents can reach (bwrap, or off)

    @property
    def stopping(self) -> bool: ...

    async def template(self, template_id: str) -> Template | None: ...

    def forget_project(self, project_id: str) -> None:
        """The project was deleted: close its mailbox, which ends its actor."""


class ProjectActor:
    def __init__(self, hub: HubServices, project_id: str) -> None:
        self.hub = hub
        self.db = hub.db
        self.project_id = project_id
        self.runs: dict[str, RunState] = {}
        self.executions: dict[str, ExecutionHandle] = {}
        self.limiter = trio.CapacityLimiter(hub.settings.max_parallel)
        worktrees = hub.settings.workspaces_root / ".worktrees" / project_id
        self.runner = AgentRunner(hub.db, project_id, hub.settings.kill_grace_s, worktrees,
                                  (self.limiter, hub.limiter), hub.executor, hub.sandbox)
        self._nursery: trio.Nursery | None = None

    async def run(self, inbox: trio.MemoryReceiveChannel[commands.Envelope[Any]]) -> None:
        with log_context(project_id=self.project_id):  # every line logged below names the project
            await self._serve(inbox)

    async def _serve(self, inbox: trio.MemoryReceiveChannel[commands.Envelope[Any]]) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            async for envelope in inbox:
                command = envelope.command
                try:
                    envelope.resolve(await self._handle(command))
                except ApiError as exc:
                    envelope.fail(exc)
                except Exception as exc:  # a bug in one command fails that command, not the project's runs
                    log.exception("command %s of project %s failed", command.name, self.project_id)
                    envelope.fail(ApiError(f"internal error in {command.name}: {exc!r}; see the hub's log"))
                except BaseException:
                    envelope.fail(Conflict("the hub is shutting down"))
                    raise
            nursery.cancel_scope.cancel()

    async def _handle(self, command: commands.Command[Any]) -> Any:
        """The command's reply, from the handler of its type."""
        match command:
            case commands.Launch():
                return await self._launch(command)
            case commands.FollowUp():
                return await self._follow_up(command)
            case commands.ResumeRun():
                return await self._resume_run(command)
            case commands.CancelRun():
                return self._cancel_run(command)
            case commands.CancelExecution():
                return self._cancel_execution(command)
            case commands.Decide():
                return self._decide(command)
            case commands.ApplyFlow():
                return await self._apply_flow(command)
            case commands.DeleteProject():
                return await self._delete_project()
        raise TypeError(f"no handler for {command!r}")

    # -- commands ---------------------------------------------------------------------------------

    async def _launch(self, command: commands.Launch) -> LaunchedRun:
        node_ids, budget, inputs, trigger = command.node_ids, command.budget, command.inputs, command.trigger
        plan = await self.db.read(lambda db: transitions.plan_launch(db, self.project_id, node_ids, inputs))
        templates = await self._templates(plan["nodes"].values())
        repairs.require_resumable(plan["nodes"].values(), templates)
        repo = await self._repository(plan["project"]["workspace"])
        launched = await self.db.write(lambda tx: transitions.insert_run(
            tx, self.project_id, list(plan["nodes"].values()), node_ids=node_ids, budget=budget, inputs=inputs,
            trigger=trigger, claim=command.claim))
        reused = plan["reused"]
        run = RunState(
            id=launched["run_id"], nodes=plan["nodes"], templates=templates,
            first_execution={e["node_id"]: e["id"] for e in launched["executions"]},
            results={n: UpstreamResult(n, r["title"], r["result"]) for n, r in reused.items()},
            commits={n: r["commit"] for n, r in reused.items() if r["commit"]},
            workspace=plan["project"]["workspace"], repo=repo,
            budget=Budget.model_validate(budget) if budget else None, inputs=inputs,
        )
        await self._start_run(run, plan["project"])
        return launched

    async def _follow_up(self, command: commands.FollowUp) -> LaunchedRun:
        execution_id = command.execution_id
        parent = await self.db.read(lambda db: history.get_execution(db, execution_id))
        if parent["project_id"] != self.project_id:
            raise Conflict(f"execution '{execution_id}' belongs to another project")
        if parent["status"] not in FINAL_EXECUTION_STATUSES:
            raise Conflict(f"execution '{execution_id}' is still {parent['status']}; follow up once it ends")
        template = await self.hub.template(parent["agent"])
        if template is None or not template.get("resume_command"):
            raise Conflict(f"agent template '{parent['agent']}' cannot continue a session: its CLI has no resume "
                           "command (resume_command)")
        if not parent["session_id"]:
            raise Conflict(f"execution '{execution_id}' reported no session id to resume")
        project = await self.db.read(lambda db: store.get_project(db, self.project_id))
        node = await self.db.read(lambda db: store.get_node(db, self.project_id, parent["node_id"]))
        node = node | {"prompt": command.prompt, "agent": parent["agent"], "depends_on": [], "candidates": None}
        repo = await self._repository(project["workspace"])
        launched = await self.db.write(lambda tx: transitions.insert_run(
            tx, self.project_id, [node], node_ids=[node["id"]], budget=None, parent_execution_id=execution_id))
        worktree = Path(parent["workspace"]) if parent["workspace"] else None
        run = RunState(
            id=launched["run_id"], nodes={node["id"]: node}, templates={parent["agent"]: template},
            first_execution={node["id"]: launched["executions"][0]["id"]}, results={}, commits={},
            workspace=project["workspace"], repo=repo,
            follow_up=FollowUp(execution_id, parent["session_id"], parent["commit_sha"],
                               worktree if worktree and worktree != Path(project["workspace"]) else None,
                               parent["ran_on"]),
        )
        await self._start_run(run, project)
        return launched

    async def _resume_run(self, command: commands.ResumeRun) -> None:
        """Go on with a run a previous hub left waiting at a gate (see transitions.finish_interrupted)."""
        run_id = command.run_id
        plan = await self.db.read(lambda db: transitions.plan_resume(db, self.project_id, run_id))
        nodes, latest = plan["nodes"], plan["latest"]
        ended = {n: ExecutionStatus(e["status"]) for n, e in latest.items() if e["status"] in FINAL_EXECUTION_STATUSES}
        pending = [node for node_id, node in nodes.items() if node_id not in ended]
        reused = plan["reused"]
        succeeded = {n: latest[n] for n, status in ended.items() if status == ExecutionStatus.SUCCEEDED}
        run = RunState(
            id=run_id, nodes=nodes, templates=await self._templates(pending),
            first_execution={n: e["id"] for n, e in latest.items()},
            results={n: UpstreamResult(n, r["title"], r["result"]) for n, r in reused.items()}
            | {n: UpstreamResult(n, nodes[n]["title"], e["result_text"] or "") for n, e in succeeded.items()},
            commits={n: r["commit"] for n, r in reused.items() if r["commit"]}
            | {n: e["commit_sha"] for n, e in succeeded.items() if e["commit_sha"]},
            workspace=plan["project"]["workspace"], repo=await self._repository(plan["project"]["workspace"]),
            budget=Budget.model_validate(plan["run"]["budget"]) if plan["run"]["budget"] else None, ended=ended,
            inputs=plan["run"]["inputs"],
            gates_waiting_since={e["id"]: e["started_at"] or time.time() for e in latest.values()
                                 if e["status"] == ExecutionStatus.WAITING},
        )
        log.info("run resumed at its gate(s)", extra={"run_id": run_id, "waiting": len(run.gates_waiting_since)})
        await self._start_run(run, plan["project"])

    async def _templates(self, nodes: Iterable[Node]) -> dict[str, Template]:
        templates = {}
        for agent in {agent for node in nodes if node["kind"] != NodeKind.GATE
                      for agent in (candidates.agents(node) if node["candidates"] else [node["agent"]])}:
            template = await self.hub.template(agent) if agent is not None else None
            if agent is None or template is None:
                raise Unprocessable(f"agent template '{agent}' does not exist")
            templates[agent] = template
        return templates

    async def _repository(self, workspace: str) -> git_checkpoints.Repository | None:
        """The workspace's git repository, checked before anything of the run is stored."""
        try:
            return await git_checkpoints.find_repository(Path(workspace), self.runner.worktrees_root)
        except git_checkpoints.GitError as exc:
            raise Conflict(f"the workspace's git repository cannot be used: {exc}") from None

    async def _start_run(self, run: RunState, project: Project) -> None:
        self.limiter.total_tokens = project["max_parallel"] or self.hub.settings.max_parallel
        self.runs[run.id] = run
        assert self._nursery is not None
        self._nursery.start_soon(self._drive_run, run)

    def _cancel_run(self, command: commands.CancelRun) -> commands.RunCancelling:
        run_id = command.run_id
        run = self.runs.get(run_id)
        if run is None:
            raise Conflict(f"run '{run_id}' is not running")
        run.cancel_requested = True
        run.scope.cancel()
        return {"run_id": run_id, "status": "cancelling"}

    def _cancel_execution(self, command: commands.CancelExecution) -> commands.ExecutionCancelling:
        execution_id = command.execution_id
        handle = self.executions.get(execution_id)
        if handle is None:
            raise Conflict(f"execution '{execution_id}' is not running or queued")
        handle.stop(Ending(ExecutionStatus.CANCELLED, "cancelled by request"))
        return {"execution_id": execution_id, "status": "cancelling"}

    def _decide(self, command: commands.Decide) -> commands.Decided:
        execution_id, comment = command.execution_id, command.comment
        handle = self.executions.get(execution_id)
        if handle is None or handle.decision is None or handle.decision.is_set():
            raise Conflict(f"execution '{execution_id}' is not a gate waiting for a decision")
        if command.plan is not None:
            if handle.proposal is None:
                raise Conflict(f"execution '{execution_id}' is not a plan's review: send no 'plan'")
            if not command.approve:
                raise Unprocessable("'plan' is for approving a review with an edited task list", {"field": "plan"})
            handle.proposal = plans.edited(handle.run.nodes[handle.node_id], command.plan)
        if command.approve and (handle.pickable is not None or command.candidate is not None):
            comment = candidates.pick(handle, command.candidate, comment)  # best of N: the chosen candidate
        elif command.candidate is not None:
            raise Unprocessable("'candidate' is for approving a pick; rejecting one rejects every candidate",
                                {"field": "candidate"})
        if command.approve:
            handle.decided = Ending(ExecutionStatus.SUCCEEDED)
        else:
            handle.decided = Ending(ExecutionStatus.FAILED, "rejected" + (f": {comment}" if comment else ""))
        handle.comment = comment
        handle.decision.set()
        return {"execution_id": execution_id, "status": handle.decided.status}

    async def _apply_flow(self, command: commands.ApplyFlow) -> dict[str, Any]:
        return await self.db.write(lambda tx: flows.apply_flow(
            tx, self.project_id, command.flow, workspace=command.workspace, dry_run=command.dry_run))

    async def _delete_project(self) -> None:
        if self.runs:
            raise Conflict(f"project '{self.project_id}' has a run in progress; cancel it first")
        await self.db.write(lambda tx: store.delete_project(tx, self.project_id))
        self.hub.forget_project(self.project_id)

    # -- runs -------------------------------------------------------------------------------------

    async def _drive_run(self, run: RunState) -> None:
        """Start each node once all its upstream nodes of this run succeeded; skip below failures."""
        waiting_on = {node_id: {up for up in node["depends_on"] if up in run.nodes}
                      for node_id, node in run.nodes.items()}
        dependents: dict[str, list[str]] = {node_id: [] for node_id in run.nodes}
        for node_id, ups in waiting_on.items():
            for up in ups:
                dependents[up].append(node_id)
        statuses: dict[str, ExecutionStatus] = {}  # how each node of the run ended
        send, receive = trio.open_memory_channel[tuple[str, ExecutionStatus]](math.inf)
        log.info("run started", extra={"run_id": run.id, "nodes": len(run.nodes)})
        try:
            with run.scope:
                async with trio.open_nursery() as nursery:
                    if run.budget and run.budget.wall_s:
                        nursery.start_soon(self._run_wall_budget, run, run.budget.wall_s)
                    for node_id, status in run.ended.items():  # a resumed run: as if they had just ended
                        send.send_nowait((node_id, status))
                    for node_id, ups in waiting_on.items():
                        if not ups and node_id not in run.ended:
                            nursery.start_soon(self._run_node, run, node_id, send)
                    while len(statuses) < len(run.nodes):
                        node_id, status = await receive.receive()
                        statuses[node_id] = status
                        if status == ExecutionStatus.SUCCEEDED:
                            plans.schedule(run, node_id, waiting_on, dependents)
                            for child in dependents[node_id]:
                                waiting_on[child].discard(node_id)
                                if not waiting_on[child] and child not in run.ended:
                                    nursery.start_soon(self._run_node, run, child, send)
                            continue
                        below = downstream_of(waiting_on, [node_id]) - {node_id} - statuses.keys() - run.ended.keys()
                        if below:
                            skipped = [run.first_execution[n] for n in sorted(below)]
                            await self.db.write(partial(transitions.skip, project_id=self.project_id,
                                                        execution_ids=skipped, because=node_id),
                                                wait_for_storage=True)
                            statuses.update(dict.fromkeys(below, ExecutionStatus.SKIPPED))
                    nursery.cancel_scope.cancel()  # the wall-time watchdog
        except Exception as exc:  # the run's own bookkeeping failed: end this run, not the project's others
            log.exception("run %s failed inside the hub", run.id)
            run.internal_error = _failure_message(exc)
        finally:
            self.runs.pop(run.id, None)
            if run.parked and self.hub.stopping:  # waiting at a gate: the next start resumes the run
                log.info("run left waiting at a gate", extra={"run_id": run.id})
            else:
                await self._finish_run(run, statuses)

    async def _finish_run(self, run: RunState, statuses: dict[str, ExecutionStatus]) -> None:
        status, error = self._run_result(run, statuses)
        leftover = ExecutionStatus.CANCELLED if run.cancel_requested else ExecutionStatus.INTERRUPTED
        with trio.move_on_after(FINAL_WRITE_TIMEOUT_S) as scope:
            scope.shield = True
            try:
                await self.db.write(lambda tx: transitions.finish_run(
                    tx, self.project_id, run.id, status, error, leftover), wait_for_storage=True)
            except Exception as exc:  # not stored: the next start records the run as cancelled
                log.error("run %s: its end was not stored: %s", run.id, exc)
        log.info("run finished", extra={"run_id": run.id, "status": status, "error": error})

    def _interruption(self) -> str:
        """Why work was cut short without a request: the hub is stopping, or this actor crashed."""
        if self.hub.stopping:
            return "the hub stopped while it ran"
        return "the hub's actor of this project failed; see the hub's log"

    def _run_result(self, run: RunState, statuses: dict[str, ExecutionStatus]) -> tuple[RunStatus, str | None]:
        if run.cancel_requested:
            return RunStatus.CANCELLED, "cancelled by request"
        if run.internal_error:
            return RunStatus.FAILED, run.internal_error
        if len(statuses) < len(run.nodes):
            return RunStatus.CANCELLED, self._interruption()
        if all(s == ExecutionStatus.SUCCEEDED for s in statuses.values()):
            return RunStatus.SUCCEEDED, None
        if run.budget_exceeded:
            return RunStatus.FAILED, run.budget_exceeded
        failed = sorted(n for n, s in statuses.items() if s in UNSUCCESSFUL_EXECUTION_STATUSES)
        return RunStatus.FAILED, f"node(s) did not succeed: {', '.join(failed)}"

    async def _run_wall_budget(self, run: RunState, wall_s: float) -> None:
        await trio.sleep(wall_s)
        run.budget_exceeded = f"run budget exceeded: wall time over {wall_s:g} s; the run's agents were stopped"
        self.runner.stop_run(run, run.budget_exceeded)

    async def _run_node(self, run: RunState, node_id: str,
                        done: trio.MemorySendChannel[tuple[str, ExecutionStatus]]) -> None:
        try:
            await self._run_node_attempts(run, node_id, done)
        except Exception:  # e.g. a retry that could not be stored: the node failed, the run goes on
            log.exception("node %s of run %s failed inside the hub", node_id, run.id)
            with contextlib.suppress(trio.BrokenResourceError):
                done.send_nowait((node_id, ExecutionStatus.FAILED))

    async def _run_node_attempts(self, run: RunState, node_id: str,
                                 done: trio.MemorySendChannel[tuple[str, ExecutionStatus]]) -> None:
        node = run.nodes[node_id]
        if node["candidates"]:  # best of N: no repairs, no retries
            status, changes, handle = await candidates.run(run, node, self._execute, self.db, self.project_id)
        elif plans.waiting_for_review(run, node):  # since before a restart
            status, changes, handle = await self._review_plan(run, node, None)
        else:
            status, changes, handle = await self._attempts(run, node)
            if status == ExecutionStatus.SUCCEEDED and node["kind"] == NodeKind.PLAN and node["review_plan"]:
                # the plan agent's commit stays what its tasks start from
                status, _, handle = await self._review_plan(run, node, changes.get("result_text") or "")
        if status == ExecutionStatus.SUCCEEDED:
            run.results[node_id] = UpstreamResult(node_id, node["title"], changes.get("result_text") or "")
            if changes.get("commit_sha"):
                run.commits[node_id] = changes["commit_sha"]
        # Downstream nodes may start while this one's finished event is still being written: theirs
        # are queued after it, so they commit after it too.
        done.send_nowait((node_id, status))
        await self._settle(handle)

    async def _attempts(self, run: RunState, node: Node) -> tuple[ExecutionStatus, dict[str, Any], ExecutionHandle]:
        """Run a node until it succeeds or has no repair turn nor retry left; the last execution's outcome."""
        execution_id = run.first_execution[node["id"]]
        attempt = 1
        repair: repairs.Repair | None = None
        first_turn = plans.instruction(node) if node["kind"] == NodeKind.PLAN else node
        while True:
            turn = node | {"prompt": repair.prompt} if repair else first_turn
            status, changes, handle = await self._execute(run, turn, execution_id, attempt,
                                                          repair.follow_up if repair else None)
            repair = repairs.next_repair(run, node, handle, changes, repair)
            if repair is not None:  # its check failed: the agent's session gets another turn
                await self._settle(handle)
                execution_id = await self.db.write(partial(
                    transitions.insert_retry, project_id=self.project_id, run_id=run.id, node=node, attempt=attempt,
                    parent_execution_id=handle.id), wait_for_storage=True)
                continue
            if status in RETRIED_EXECUTION_STATUSES and attempt <= node["retries"] and not run.budget_exceeded:
                await self._settle(handle)
                await trio.sleep(min(RETRY_BACKOFF_MAX_S, 0.5 * 2 ** (attempt - 1)))
                attempt += 1
                execution_id = await self.db.write(partial(
                    transitions.insert_retry, project_id=self.project_id, run_id=run.id, node=node, attempt=attempt),
                    wait_for_storage=True)
                continue
            return status, changes, handle

    async def _review_plan(self, run: RunState, plan: Node,
                           answer: str | None) -> tuple[ExecutionStatus, dict[str, Any], ExecutionHandle]:
        """A person approves (or edits) a plan node's task list; approved, it grows (:mod:`orchestra.plans`)."""
        if answer is None:  # waiting since before a restart: the answer is stored
            review_id = run.first_execution[plan["id"]]
            answer = await self.db.read(lambda db: plans.stored_answer(db, run.id, plan["id"]))
        else:
            review_id = await self.db.write(lambda tx: transitions.insert_decision(
                tx, self.project_id, run.id, plan), wait_for_storage=True)
        gate = plan | {"kind": NodeKind.GATE, "agent": None, "timeout_s": None}
        return await self._execute(run, gate, review_id, 1, proposal=answer or "")

    @staticmethod
    async def _settle(handle: ExecutionHandle) -> None:
        """Wait until an execution's writes, its final status last, have landed (even when cancelled)."""
        with trio.move_on_after(FINAL_WRITE_TIMEOUT_S) as scope:
            scope.shield = True
            try:
                await handle.settle()
            except Exception as exc:  # not stored: the next start records the execution as interrupted
                log.error("execution %s: its last writes were not stored: %s", handle.id, exc)

    # -- executions -------------------------------------------------------------------------------

    async def _execute(self, run: RunState, node: Node, execution_id: str, attempt: int,
                       follow_up: FollowUp | None = None, *, candidate: int | None = None,
                       pickable: dict[str, dict[str, Any]] | None = None, proposal: str | None = None,
                       ) -> tuple[ExecutionStatus, dict[str, Any], ExecutionHandle]:
        """Run one attempt; its final status is queued, not awaited (see :meth:`_settle`)."""
        handle = ExecutionHandle(execution_id, node["id"], run, candidate=candidate, pickable=pickable,
                                 proposal=proposal)
        self.executions[execution_id] = run.handles[execution_id] = handle
        ending: Ending | None = None
        try:
            with handle.scope:
                if run.budget_exceeded:
                    ending = Ending(ExecutionStatus.FAILED, run.budget_exceeded)
                elif node["kind"] == NodeKind.GATE:
                    ending = await self._wait_at_gate(node, handle)
                    if handle.proposal is not None and ending.status == ExecutionStatus.SUCCEEDED:  # a plan's review
                        ending = await self._grow(run, run.nodes[node["id"]], handle, ending, handle.proposal)
                else:
                    ending = await self.runner.attempt(run, node, handle, attempt, follow_up)
                    if node["kind"] == NodeKind.PLAN and ending.status == ExecutionStatus.SUCCEEDED:
                        assert handle.parser is not None
                        ending = await self._grow(run, node, handle, ending, handle.parser.report.result_text,
                                                  review=node["review_plan"])
            if ending is None:
                ending = handle.stop_ending or Ending(ExecutionStatus.CANCELLED, "cancelled by request")
        except Exception as exc:
            # One execution's failure is that execution's failure: its run and siblings go on.
            log.exception("execution %s failed inside the hub", execution_id)
            ending = Ending(ExecutionStatus.FAILED, _failure_message(exc))
        except BaseException:  # cancelled: by a request, a budget, or the hub stopping
            stopped = handle.stop_ending or (Ending(ExecutionStatus.CANCELLED, "cancelled by request")
                                            if run.cancel_requested else None)
            waiting = handle.decision is not None and not handle.decision.is_set()
            if stopped is None and waiting and self.hub.stopping:
                run.parked.add(execution_id)  # a gate runs no process: it stays waiting for the next start
                raise
            ending = stopped or Ending(ExecutionStatus.INTERRUPTED, self._interruption())
            raise
        finally:
            self.executions.pop(execution_id, None)
            run.handles.pop(execution_id, None)
            if execution_id not in run.parked:
                changes = self._record_ending(run, node, handle, ending)
        assert ending is not None
        return ending.status, changes, handle

    def _record_ending(self, run: RunState, node: Node, handle: ExecutionHandle,
                       ending: Ending | None) -> dict[str, Any]:
        """Count the execution's usage into its run and queue its finished event."""
        cost, tokens = handle.usage()
        run.spent_cost += cost
        run.spent_tokens += tokens
        assert ending is not None
        changes = _ending_changes(handle, ending)
        if handle.parser is not None and not node["model"]:
            changes["model"] = handle.parser.report.model  # the CLI's default, as it reported it
        self.runner.queue_status(handle, changes, EventType.EXECUTION_FINISHED)
        log.info("execution finished", extra={
            "run_id": run.id, "node_id": node["id"], "execution_id": handle.id, "status": ending.status,
            "exit_code": changes.get("exit_code"), "error": ending.error})
        return changes

    async def _grow(self, run: RunState, plan: Node, handle: ExecutionHandle, ending: Ending, answer: str | None,
                    *, review: bool = False) -> Ending:
        """A plan node's answer becomes nodes of its run (:mod:`orchestra.plans`), or fails it; one to be
        reviewed is only checked."""
        if review:
            error = await plans.check(answer, plan, self.hub.template)
        else:
            error = await plans.grow(self.db, self.project_id, run, plan, answer, self.hub.template)
        if error is None:
            return ending
        self.runner.queue_output(handle, [{"kind": "error", "message": error}])
        return Ending(ExecutionStatus.FAILED, error, ending.exit_code)

    async def _wait_at_gate(self, node: Node, handle: ExecutionHandle) -> Ending:
        """A gate runs no agent: it waits for a person's approve or reject."""
        handle.decision = trio.Event()
        started = handle.run.gates_waiting_since.get(handle.id)  # waiting since before a restart
        if started is None:
            started = time.time()
            await self.db.write(lambda tx: transitions.update_execution(
                tx, self.project_id, handle.id, {"status": ExecutionStatus.WAITING, "started_at": started},
                EventType.EXECUTION_STARTED),
                wait_for_storage=True)
        timeout = node["timeout_s"]
        left = timeout - (time.time() - started) if timeout else math.inf
        with trio.move_on_after(left) as deadline:
            await handle.decision.wait()
        if deadline.cancelled_caught:
            return Ending(ExecutionStatus.TIMED_OUT, f"no decision within {timeout:g} s")
        assert handle.decided is not None
        return handle.decided


def _ending_changes(handle: ExecutionHandle, ending: Ending) -> dict[str, Any]:
    changes: dict[str, Any] = {"status": ending.status, "error": ending.error, "exit_code": ending.exit_code,
                               "finished_at": time.time()}
    process, parser = handle.process, handle.parser
    if process is not None:
        changes["stderr"] = process.stderr_text
        if ending.exit_code is None:
            changes["exit_code"] = process.returncode
    if parser is not None:
        report = parser.report
        changes |= {"result_text": report.result_text, "session_id": report.session_id,
                    "input_tokens": report.input_tokens, "output_tokens": report.output_tokens,
                    "cost_usd": report.cost_usd}
    if handle.decision is not None:
        changes["result_text"] = handle.comment or ("approved" if ending.status == ExecutionStatus.SUCCEEDED else None)
    for key in ("base_commit", "commit_sha", "branch"):
        if key in handle.checkpoint:
            changes[key] = handle.checkpoint[key]
    return changes


def _failure_message(exc: Exception) -> str:
    if isinstance(exc, StorageUnavailable):
        return f"could not store the execution's work: {exc.message}"
    if isinstance(exc, ApiError):
        return exc.message
    return f"internal error: {exc!r}"
