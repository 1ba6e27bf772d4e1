"""Parked, not failed: an agent whose CLI hit a usage or rate limit waits for the reset and goes on.

The parsers say when a failed run hit a limit, and when the CLI said it resets
(:class:`~orchestra.agents.limits.UsageLimit`). The execution then ends its turn as ``parked`` with
``resume_at`` -- the reset time (plus a small margin), else a back-off that doubles with each park of the
same node -- instead of ``failed``: it is no failure and no retry, and its run's driver holds its
downstream nodes. At ``resume_at``, or sooner when a person asks (``POST /executions/{id}/resume``),
the same execution goes on: a follow-up turn in the agent's own session ("continue where you stopped")
where the template can resume one, else a fresh attempt with the node's prompt.

Other nodes of the same agent template in the project would hit the same wall: the template is paused
until ``resume_at``, and an agent node about to start while it is paused parks at once, without running
its CLI. A parked execution runs no process, so it survives a hub restart (its run is resumed like a
run waiting at a gate), and cancelling it or its run, or the run's budget running out, ends it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from orchestra.agents.limits import UsageLimit
from orchestra.core.rows import Node, Template
from orchestra.core.statuses import ExecutionStatus
from orchestra.runtime.execution import AgentRunner
from orchestra.runtime.run_state import Attempt, Ending, ExecutionHandle, RunState, SessionContinuation, Spent

#: The turn that continues a parked agent's own session.
CONTINUE_PROMPT = ("You were stopped by a usage limit, which has now reset. Continue where you stopped and "
                   "finish the task you were given.")
#: Resume this long after the reset the CLI gave (clocks differ; a reset at 19:00 may mean 19:00:30).
RESET_MARGIN_S = 2.0
#: The longest back-off when the CLI gave no reset time.
BACKOFF_MAX_S = 3600.0
#: A long wait re-reads the wall clock this often (a suspended VM's monotonic clock stands still).
CLOCK_CHECK_S = 30.0


def resume_time(limit: UsageLimit, parks: int, backoff_s: float, now: float) -> float:
    """When a node parked for the ``parks``-th time in a row goes on."""
    if limit.resets_at is not None and limit.resets_at > now - RESET_MARGIN_S:
        return max(limit.resets_at, now) + RESET_MARGIN_S
    return now + min(BACKOFF_MAX_S, backoff_s * 2.0 ** max(0, parks - 1))


def parked_event(ending: Ending) -> dict[str, Any]:
    """The agent event that tells a watcher why and until when an execution is parked."""
    resume_at = ending.resume_at or time.time()
    return {"kind": "system", "subtype": "parked", "resume_at": resume_at,
            "message": f"{ending.error}; parked until {clock(resume_at)}"}


def clock(at: float) -> str:
    """``HH:MM`` in the hub's local time, for messages."""
    return time.strftime("%H:%M", time.localtime(at))


@dataclass(frozen=True)
class Parked:
    """What a parked execution needs to go on: from its live turn, or from its stored row after a restart."""

    resume_at: float
    session_id: str | None
    commit_sha: str | None
    workspace: str | None  # where its agent worked (a git worktree, re-created for the continuing turn)
    ran_on: str | None
    spent: Spent  # what its turns so far reported: the turn that goes on adds to it (its row, its node budget)

    @classmethod
    def after(cls, handle: ExecutionHandle, changes: dict[str, Any]) -> Parked:
        """From the turn that just parked (its handle and the changes stored on its row)."""
        process = handle.process
        spent = Spent.of(changes) if handle.parser is not None else handle.earlier or Spent()
        return cls(changes["resume_at"], changes.get("session_id"), changes.get("commit_sha"),
                   str(process.spec.cwd) if process else None, process.where if process else None, spent)

    @classmethod
    def stored(cls, run: RunState, node_id: str) -> Parked | None:
        """A node of a run resumed after a restart whose execution was parked, from its stored row."""
        row = run.limit_parked.pop(node_id, None)
        if row is None:
            return None
        return cls(float(row["resume_at"] or time.time()), row.get("session_id"), row.get("commit_sha"),
                   row.get("workspace"), row.get("ran_on"), Spent.of(row))

    def continuation(self, execution_id: str, template: Template, run_workspace: str,
                     repo: object | None) -> SessionContinuation | None:
        """The follow-up turn in the agent's own session, or None when it cannot be continued (a fresh
        attempt). In a git workspace (``repo``) the turn goes on in the worktree its agent left."""
        if not template.get("resume_command") or not self.session_id:
            return None
        worktree = Path(self.workspace) if repo and self.workspace and self.workspace != run_workspace else None
        return SessionContinuation(execution_id, self.session_id, self.commit_sha, worktree, self.ran_on)


class Parking:
    """One project's paused agent templates, and the parked executions a person may wake early."""

    def __init__(self) -> None:
        self.pauses: dict[str, tuple[float, str]] = {}  # template id -> (resume_at, the execution that hit it)
        self._wakers: dict[str, trio.Event] = {}  # parked execution id -> set to resume it now
        self._parks: dict[str, int] = {}  # execution id -> how often it was parked by a limit (for back-off)

    async def turn(self, runner: AgentRunner, run: RunState, node: Node, handle: ExecutionHandle, attempt: Attempt,
                   backoff_s: float) -> Ending:
        """Run an agent's turn, unless its template is paused at a usage limit; a limit it hits parks it."""
        paused = self.paused(node["agent"], time.time()) if attempt.may_park else None
        if paused is not None:
            return paused
        ending = await runner.attempt(run, node, handle, attempt.number, attempt.follow_up)
        if ending.status == ExecutionStatus.PARKED:
            ending = self.park(handle, node["agent"], ending, attempt.may_park, backoff_s)
            if ending.resume_at is not None:
                runner.queue_output(handle, [parked_event(ending)])
        return ending

    def park(self, handle: ExecutionHandle, template_id: str | None, ending: Ending, may_park: bool,
             backoff_s: float) -> Ending:
        """The ending of a turn whose CLI hit a limit: parked until it resets (its template paused as long),
        or failed where it may not park (a best-of-N candidate: its siblings go on)."""
        report = handle.parser.report if handle.parser is not None else None
        if not may_park or report is None or report.limit is None or template_id is None:
            return Ending(ExecutionStatus.FAILED, ending.error, ending.exit_code)
        if not report.worked:
            # Refused at its first model call: a fresh attempt with the whole prompt is the same turn, and
            # Gemini CLI keeps no session to resume then ("No previous sessions found for this project").
            report.session_id = None
        parks = self._parks[handle.id] = self._parks.get(handle.id, 0) + 1
        resume_at = resume_time(report.limit, parks, backoff_s, time.time())
        self.pause(template_id, resume_at, handle.id)
        return Ending(ExecutionStatus.PARKED, f"usage limit: {report.limit.message}", ending.exit_code, resume_at)

    def pause(self, template_id: str, resume_at: float, execution_id: str) -> None:
        current = self.pauses.get(template_id)
        if current is None or current[0] < resume_at:
            self.pauses[template_id] = (resume_at, execution_id)

    def paused(self, template_id: str | None, now: float) -> Ending | None:
        """A node of ``template_id`` about to start while the template is paused: parked at once, without
        running (it would hit the wall another execution hit); None when the template is not paused."""
        pause = self.pauses.get(template_id) if template_id else None
        if pause is None or template_id is None:
            return None
        if pause[0] <= now:
            del self.pauses[template_id]
            return None
        resume_at, because = pause
        return Ending(ExecutionStatus.PARKED, f"agent template '{template_id}' is paused until {clock(resume_at)}: "
                      f"execution {because} hit a usage limit", None, resume_at)

    def is_parked(self, execution_id: str) -> bool:
        return execution_id in self._wakers

    def resume_now(self, execution_id: str, template_id: str | None) -> bool:
        """Wake a parked execution; its template's pause ends with it (a person says: try again now)."""
        waker = self._wakers.get(execution_id)
        if waker is None:
            return False
        if template_id is not None and template_id in self.pauses:
            del self.pauses[template_id]
        waker.set()
        return True

    async def hold(self, execution_id: str, resume_at: float) -> None:
        """Wait until ``resume_at`` (wall clock) or until :meth:`resume_now`; cancellable."""
        waker = self._wakers[execution_id] = trio.Event()
        try:
            while not waker.is_set():
                left = resume_at - time.time()
                if left <= 0:
                    return
                with trio.move_on_after(min(left, CLOCK_CHECK_S)):
                    await waker.wait()
        finally:
            if self._wakers.get(execution_id) is waker:
                del self._wakers[execution_id]
