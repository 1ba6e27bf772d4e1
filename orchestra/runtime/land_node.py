"""A land node's turn in its run (``kind: "land"``): land the work of its upstream nodes, repairing merge
conflicts through the agents whose work conflicts (:mod:`orchestra.runtime.merge_repairs`).

It runs no agent. Its execution is ``running`` while it lands, then ``succeeded`` with the result (merged
commit, pushed branch, pull request URL) as its ``result_text`` and ``commit_sha``, and the run records
``landed``; or ``failed`` with the reason (a refusal, git's or the API's message without the token, the
files of a conflict its repair turns did not resolve), the result branches left in place to land again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

from orchestra.core.landed import landed_text
from orchestra.core.rows import Landed, Node, Project
from orchestra.core.settings import Settings
from orchestra.core.statuses import EventType, ExecutionStatus, NodeKind
from orchestra.runtime import landing as service
from orchestra.runtime.execution import AgentRunner
from orchestra.runtime.hooks import AttemptRunner
from orchestra.runtime.merge_repairs import MergeRepairs, Settle
from orchestra.runtime.run_state import Ending, ExecutionHandle, RunState
from orchestra.storage import history, store, transitions
from orchestra.storage.db import Database
from orchestra.workspaces import landing, pull_requests
from orchestra.workspaces.git_checkpoints import GitError

log = logging.getLogger(__name__)


class Driver(AttemptRunner, Protocol):
    """What a land node needs of its run driver (:class:`orchestra.runtime.driver.RunDriver`)."""

    db: Database
    project_id: str
    runner: AgentRunner


@dataclass
class LandNode:
    """Built by the project actor with what a landing needs."""

    runner: AgentRunner
    repairs: MergeRepairs
    settings: Settings

    @classmethod
    def of(cls, driver: Driver, settle: Settle, settings: Settings) -> LandNode:
        """A run driver's land nodes: their repair turns run through the driver."""
        return cls(driver.runner, MergeRepairs(driver.db, driver.project_id, driver, settle), settings)

    async def run(self, run: RunState, node: Node, handle: ExecutionHandle) -> Ending:
        self.runner.queue_status(handle, {"status": ExecutionStatus.RUNNING, "started_at": time.time()},
                                 EventType.EXECUTION_STARTED)
        project_id = self.repairs.project_id
        project = await self.repairs.db.read(lambda db: store.get_project(db, project_id))
        started = await self.repairs.db.read(lambda db: history.run_summary(db, run.id)["started_at"])
        try:
            landed = await self._land(run, node, project, time.time() - started if started else None)
        except (GitError, pull_requests.PullRequestError) as exc:
            self.runner.queue_output(handle, [{"kind": "error", "message": str(exc)}])
            return Ending(ExecutionStatus.FAILED, f"landing failed: {exc}")
        db = self.repairs.db
        await db.write(lambda tx: transitions.record_landed(tx, self.repairs.project_id, run.id, dict(landed)),
                       wait_for_storage=True)
        handle.checkpoint["commit_sha"] = landed.get("commit")
        if landed.get("branch"):
            handle.checkpoint["branch"] = landed["branch"]
        handle.comment = landed_text(landed)
        self.runner.queue_output(handle, [{"kind": "text", "text": handle.comment}])
        return Ending(ExecutionStatus.SUCCEEDED)

    async def _land(self, run: RunState, node: Node, project: Project, duration_s: float | None) -> Landed:
        repo = run.repo
        if repo is None:
            raise GitError("the project's workspace is not a git repository: there is no work to land")
        target = await service.resolve(repo, node["land"] or {}, project["id"], run.id, self.settings)
        await service.preflight(repo, target)
        ups = service.upstream_commits(node, run.nodes, run.commits)
        if not ups:
            raise GitError(f"no node upstream of '{node['id']}' left a commit: there is no work to land")
        steps = [service.Step(n, run.nodes[n]["title"], result.result, bool(run.nodes[n]["check"]))
                 for n, result in run.results.items() if n in run.nodes and run.nodes[n]["kind"] != NodeKind.GATE]
        description = service.describe(project, run.id, steps, run.live_usage()[0], duration_s, self.settings)
        commit = await self.combine(run, node, ups, description.merge_message)
        try:
            return await service.land(repo, target, commit, description, self.settings)
        except landing.BaseConflict as conflict:  # the base moved meanwhile and conflicts: repair, land again
            author = ups[-1][0]
            resolved = await self.repairs.resolve(run, author, conflict.tip, conflict, node["max_repairs"],
                                                  f"the base branch '{target.base}' (at {conflict.tip[:12]})")
            return await service.land(repo, target, resolved, description, self.settings)

    async def combine(self, run: RunState, node: Node, ups: list[tuple[str, str]], message: str) -> str:
        """One commit with every upstream's work; a conflict is repaired by the later upstream's agent."""
        assert run.repo is not None
        result = ups[0][1]
        for author, other in ups[1:]:
            other = run.commits.get(author, other)
            try:
                result = await service.combine(run.repo, [result, other], message)
            except landing.BaseConflict as conflict:
                result = await self.repairs.resolve(run, author, result, conflict, node["max_repairs"],
                                                    f"the work it is merged with ({result[:12]})")
        return result


async def premerge_fan_in(land: LandNode, run: RunState, node: Node) -> None:
    """Before a fan-in node with ``max_repairs`` starts: its upstream branches merged, conflicts repaired by
    their agents, so that its worktree starts from the merge. What stays unresolved fails the node as before
    (its worktree cannot be prepared: the files are named)."""
    ups: list[tuple[str, str]] = [(up, run.commits[up]) for up in node["depends_on"] if up in run.commits]
    if run.repo is None or len(ups) < 2 or not node["max_repairs"]:
        return
    try:
        await land.combine(run, node, ups, f"orchestra: merge upstream of {node['id']}")
    except GitError as exc:  # the node's own worktree then fails to be prepared, naming the files
        log.warning("fan-in of node %s not repaired: %s", node["id"], exc)
