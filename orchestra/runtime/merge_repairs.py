"""Merge conflicts repaired by the agent whose work conflicts, like a failing check's repair
(:mod:`orchestra.runtime.repairs`): a follow-up turn in that agent's own session.

When two pieces of a run's work conflict (two upstream branches of a fan-in node, or the run's result and
a base branch that moved meanwhile), the agent of the node whose branch conflicts gets a repair turn: its
working directory is re-created from the commit it left, the other side is merged into it with the
conflicts left in place, and the prompt names the files and shows their markers. When the turn ends its
work is committed, which concludes the merge (a merge commit on the node's branch); the node's check, if it
has one, runs on that merged result before. The merge is resolved when the commit contains the other side
and no conflicted file holds a marker any more; else another turn, up to the ``max_repairs`` of the node
that needs the merge (the land node, or the fan-in node), then :class:`Unresolved` naming the files.

Each turn is stored as a new execution of the conflicting node in the same run, linked to the execution
it continues (``parent_execution_id``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from orchestra.core.rows import Node
from orchestra.core.statuses import ExecutionStatus
from orchestra.runtime.hooks import AttemptRunner
from orchestra.runtime.run_state import Attempt, ExecutionHandle, RunState, SessionContinuation
from orchestra.storage import transitions
from orchestra.storage.db import Database
from orchestra.workspaces import landing
from orchestra.workspaces.git_checkpoints import GitError, Repository, run_git

log = logging.getLogger(__name__)

Settle = Callable[[ExecutionHandle], Awaitable[None]]


class Unresolved(GitError):
    def __init__(self, files: list[str], turns: int, why: str = "") -> None:
        super().__init__(f"merge conflict in {', '.join(files)} not resolved after {turns} repair turn(s)"
                         + (f": {why}" if why else ""))
        self.files = files


@dataclass(frozen=True)
class Session:
    """The execution a repair turn continues: its id, session, commit, working directory, where it ran."""

    execution_id: str
    session_id: str | None
    commit: str | None
    workspace: str | None
    ran_on: str | None


def latest_session(db: sqlite_utils.Database, run_id: str, node_id: str) -> Session | None:
    row = db.execute("SELECT id, session_id, commit_sha, workspace, ran_on FROM executions WHERE run_id = ? AND "
                     "node_id = ? AND status = ? ORDER BY num DESC LIMIT 1",
                     [run_id, node_id, ExecutionStatus.SUCCEEDED]).fetchone()
    return Session(*row) if row else None


def conflict_prompt(what: str, files: dict[str, str], number: int, max_repairs: int, remaining: list[str]) -> str:
    shown = "\n".join(f"{name}:\n```\n{text}\n```" for name, text in files.items() if text)
    still = f" Markers are still left in {', '.join(remaining)}." if remaining else ""
    return (f"Merging your work with {what} conflicts in {', '.join(files)}.{still} Your working directory holds "
            "the merge in progress: resolve every conflict (remove the <<<<<<<, ======= and >>>>>>> markers, "
            "keeping what both sides meant), and leave the result in the files; the merge is committed when you "
            f"finish (repair {number} of {max_repairs}).\n\n{shown}\n")


@dataclass
class MergeRepairs:
    """What a project actor gives the repairs: its database, and how it runs and settles an execution."""

    db: Database
    project_id: str
    runner: AttemptRunner  # the run driver
    settle: Settle

    async def resolve(self, run: RunState, node_id: str, other: str, conflict: landing.BaseConflict,
                      max_repairs: int, what: str) -> str:
        """The commit that resolves merging ``other`` into ``node_id``'s work (a merge commit on its branch)."""
        assert run.repo is not None
        if max_repairs < 1:
            raise GitError(f"{what} conflicts with the work of node '{node_id}' in {', '.join(conflict.files)}; "
                           "allow repair turns (max_repairs) or merge by hand") from None
        node, files, why = run.nodes[node_id], conflict.files, ""
        markers, remaining = dict(conflict.markers), list(files)
        session = await self.db.write(lambda tx: latest_session(tx.db, run.id, node_id), wait_for_storage=True)
        for number in range(1, max_repairs + 1):
            if session is None or not session.session_id or run.cancel_requested or run.budget_exceeded:
                why = "its agent has no session to continue" if session is None or not session.session_id else ""
                break
            merging = other if number == 1 else None  # later turns continue from the merge commit
            commit = await self._turn(run, node, session, merging, conflict_prompt(
                what, markers, number, max_repairs, remaining if number > 1 else []))
            if commit is None:
                why = "the repair turn did not succeed"
                break
            merged = await landing.is_ancestor(run.repo.path, other, commit)
            remaining = await landing.unresolved(run.repo.path, commit, files) if merged else list(files)
            if merged and not remaining:
                run.commits[node_id] = commit
                return commit
            session = await self.db.write(lambda tx: latest_session(tx.db, run.id, node_id), wait_for_storage=True)
            markers = {name: await _text_at(run.repo, commit, name) for name in remaining}
        raise Unresolved(files, max_repairs, why)

    async def _turn(self, run: RunState, node: Node, session: Session, merging: str | None,
                    prompt: str) -> str | None:
        """One repair turn; the commit it left, None when it did not succeed."""
        execution_id = await self.db.write(lambda tx: transitions.insert_retry(
            tx, self.project_id, run.id, node, 1, parent_execution_id=session.execution_id), wait_for_storage=True)
        worktree = Path(session.workspace) if session.workspace and session.workspace != run.workspace else None
        assert session.session_id is not None
        follow_up = SessionContinuation(session.execution_id, session.session_id, session.commit, worktree,
                                        session.ran_on, merge=merging)
        status, changes, handle = await self.runner.execute(run, Attempt(node | {"prompt": prompt}, execution_id, 1,
                                                                         follow_up))
        await self.settle(handle)
        commit = changes.get("commit_sha")
        if status != ExecutionStatus.SUCCEEDED or not isinstance(commit, str):
            log.warning("merge repair %s of node %s: %s", execution_id, node["id"], changes.get("error"))
            return None
        return commit


async def _text_at(repo: Repository, commit: str, name: str) -> str:
    shown = await run_git(repo.path, "show", f"{commit}:{name}")
    return shown.stdout.decode(errors="replace")[:landing.MARKERS_MAX_CHARS]
