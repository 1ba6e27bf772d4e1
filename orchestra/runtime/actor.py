"""ProjectActor: the command side of one project, the single writer of its runs and executions.

Routes send it commands through the hub (launch, follow-up, cancel, approve/reject, apply a flow,
delete: the typed messages of :mod:`orchestra.runtime.commands`) and await the reply; each command
type has one method here. A launch builds the run's :class:`~orchestra.runtime.run_state.RunState`
and hands it to the :class:`~orchestra.runtime.driver.RunDriver`, which runs it as a task in the
actor's nursery. Cancelling a scope ends the agents below it, and every execution's final state is
written, shielded, on the way out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import trio

from orchestra.core.errors import ApiError, Conflict, Unprocessable
from orchestra.core.logging_setup import log_context
from orchestra.core.models import Budget
from orchestra.core.prompts import UpstreamResult
from orchestra.core.rows import LaunchedRun, Node, Project, Template
from orchestra.core.statuses import (
    FINAL_EXECUTION_STATUSES,
    CancelStatus,
    ExecutionStatus,
    NodeKind,
)
from orchestra.flows import files as flows
from orchestra.runtime import candidates, commands, plans, repairs
from orchestra.runtime.driver import RunDriver
from orchestra.runtime.execution import AgentRunner
from orchestra.runtime.hooks import HubServices
from orchestra.runtime.run_state import Ending, RunState, SessionContinuation
from orchestra.storage import definitions, history, launches, store, transitions
from orchestra.workspaces import git_checkpoints

log = logging.getLogger(__name__)

class ProjectActor:
    """Serves one project's commands, one at a time, from its mailbox."""

    def __init__(self, hub: HubServices, project_id: str) -> None:
        self.hub = hub
        self.db = hub.db
        self.project_id = project_id
        self.limiter = trio.CapacityLimiter(hub.settings.max_parallel)
        worktrees = hub.settings.workspaces_root / ".worktrees" / project_id
        self.runner = AgentRunner(hub.db, project_id, hub.settings.kill_grace_s, worktrees,
                                  (self.limiter, hub.limiter), hub.executor, hub.sandbox)
        self.driver = RunDriver(hub, project_id, self.runner)
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
            case commands.ResumeExecution():
                return self._resume_execution(command)
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
        selection = await self.db.read(lambda db: launches.select_launch(db, self.project_id, node_ids, inputs))
        templates = await self._templates(selection["nodes"].values())
        repairs.require_resumable(selection["nodes"].values(), templates)
        repo = await self._repository(selection["project"]["workspace"])
        launched = await self.db.write(lambda tx: transitions.insert_run(
            tx, self.project_id, list(selection["nodes"].values()), node_ids=node_ids, budget=budget, inputs=inputs,
            trigger=trigger, claim=command.claim))
        reused = selection["reused"]
        run = RunState(
            id=launched["run_id"], nodes=selection["nodes"], templates=templates,
            first_execution={e["node_id"]: e["id"] for e in launched["executions"]},
            results={n: UpstreamResult(n, r["title"], r["result"]) for n, r in reused.items()},
            commits={n: r["commit"] for n, r in reused.items() if r["commit"]},
            workspace=selection["project"]["workspace"], repo=repo,
            budget=Budget.model_validate(budget) if budget else None, inputs=inputs,
        )
        await self._start_run(run, selection["project"])
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
            follow_up=SessionContinuation(
                execution_id, parent["session_id"], parent["commit_sha"],
                worktree if worktree and worktree != Path(project["workspace"]) else None, parent["ran_on"]),
        )
        await self._start_run(run, project)
        return launched

    async def _resume_run(self, command: commands.ResumeRun) -> None:
        """Go on with a run a previous hub left waiting at a gate (see transitions.finish_interrupted)."""
        run_id = command.run_id
        selection = await self.db.read(lambda db: launches.select_resume(db, self.project_id, run_id))
        nodes, latest = selection["nodes"], selection["latest"]
        ended = {n: ExecutionStatus(e["status"]) for n, e in latest.items() if e["status"] in FINAL_EXECUTION_STATUSES}
        pending = [node for node_id, node in nodes.items() if node_id not in ended]
        reused = selection["reused"]
        succeeded = {n: latest[n] for n, status in ended.items() if status == ExecutionStatus.SUCCEEDED}
        run = RunState(
            id=run_id, nodes=nodes, templates=await self._templates(pending),
            first_execution={n: e["id"] for n, e in latest.items()},
            results={n: UpstreamResult(n, r["title"], r["result"]) for n, r in reused.items()}
            | {n: UpstreamResult(n, nodes[n]["title"], e["result_text"] or "") for n, e in succeeded.items()},
            commits={n: r["commit"] for n, r in reused.items() if r["commit"]}
            | {n: e["commit_sha"] for n, e in succeeded.items() if e["commit_sha"]},
            workspace=selection["project"]["workspace"], repo=await self._repository(selection["project"]["workspace"]),
            budget=Budget.model_validate(selection["run"]["budget"]) if selection["run"]["budget"] else None,
            ended=ended, inputs=selection["run"]["inputs"],
            gates_waiting_since={e["id"]: e["started_at"] or time.time() for e in latest.values()
                                 if e["status"] == ExecutionStatus.WAITING},
            limit_parked={n: dict(e) for n, e in latest.items() if e["status"] == ExecutionStatus.PARKED},
        )
        log.info("run resumed at its gate(s)", extra={"run_id": run_id, "waiting": len(run.gates_waiting_since)})
        await self._start_run(run, selection["project"])

    async def _templates(self, nodes: Iterable[Node]) -> dict[str, Template]:
        templates = {}
        for agent in {agent for node in nodes if node["kind"] not in (NodeKind.GATE, NodeKind.LAND)
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
        assert self._nursery is not None
        self.driver.start(self._nursery, run)

    def _cancel_run(self, command: commands.CancelRun) -> commands.RunCancelling:
        run_id = command.run_id
        run = self.driver.runs.get(run_id)
        if run is None:
            raise Conflict(f"run '{run_id}' is not running")
        run.cancel_requested = True
        run.scope.cancel()
        return {"run_id": run_id, "status": CancelStatus.CANCELLING}

    def _cancel_execution(self, command: commands.CancelExecution) -> commands.ExecutionCancelling:
        execution_id = command.execution_id
        handle = self.driver.executions.get(execution_id)
        if handle is None:
            raise Conflict(f"execution '{execution_id}' is not running or queued")
        handle.stop(Ending(ExecutionStatus.CANCELLED, "cancelled by request"))
        return {"execution_id": execution_id, "status": CancelStatus.CANCELLING}

    def _resume_execution(self, command: commands.ResumeExecution) -> commands.ExecutionResuming:
        execution_id = command.execution_id
        handle = self.driver.executions.get(execution_id)
        agent = handle.run.nodes[handle.node_id]["agent"] if handle is not None else None
        if handle is None or not self.driver.parking.resume_now(execution_id, agent):
            raise Conflict(f"execution '{execution_id}' is not parked")
        return {"execution_id": execution_id, "status": "resuming"}

    def _decide(self, command: commands.Decide) -> commands.Decided:
        execution_id, comment = command.execution_id, command.comment
        handle = self.driver.executions.get(execution_id)
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
        if self.driver.runs:
            raise Conflict(f"project '{self.project_id}' has a run in progress; cancel it first")
        await self.db.write(lambda tx: definitions.delete_project(tx, self.project_id))
        self.hub.forget_project(self.project_id)
