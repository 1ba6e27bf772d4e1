"""The run driver: starts a run's nodes as their upstream nodes succeed, skips what lies below a
failure, retries and repairs nodes, waits at gates, and records how each execution and the run ended.

A :class:`ProjectActor <orchestra.runtime.actor.ProjectActor>` owns one :class:`RunDriver`; each run is a
task in the actor's nursery (:meth:`RunDriver.start`), and each execution a task of its run. The node
kinds that reshape a run plug in through typed seams: best of N (:mod:`orchestra.runtime.candidates`)
runs its candidates through :meth:`RunDriver.execute` (an :class:`~orchestra.runtime.hooks.AttemptRunner`),
plans (:mod:`orchestra.runtime.plans`) grow the :class:`~orchestra.runtime.run_state.RunState`, and
repairs (:mod:`orchestra.runtime.repairs`) say which turn follows a failed check. An agent's attempt
itself is :class:`~orchestra.runtime.execution.AgentRunner`'s.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from functools import partial
from typing import Any

import trio

from orchestra.core.dag import downstream_of
from orchestra.core.errors import ApiError, StorageUnavailable
from orchestra.core.logging_setup import log_context
from orchestra.core.prompts import UpstreamResult
from orchestra.core.rows import Node
from orchestra.core.statuses import (
    RETRIED_EXECUTION_STATUSES,
    UNSUCCESSFUL_EXECUTION_STATUSES,
    EventType,
    ExecutionStatus,
    NodeKind,
    RunStatus,
)
from orchestra.runtime import candidates, land_node, parking, plans, repairs
from orchestra.runtime.execution import AgentRunner
from orchestra.runtime.hooks import HubServices
from orchestra.runtime.run_state import Attempt, Ending, ExecutionHandle, Outcome, RunState, SessionContinuation
from orchestra.storage import transitions

log = logging.getLogger(__name__)

RETRY_BACKOFF_MAX_S = 60.0
FINAL_WRITE_TIMEOUT_S = 30.0


class RunDriver:
    """Drives the runs of one project; the single writer of their executions' state."""

    def __init__(self, hub: HubServices, project_id: str, runner: AgentRunner) -> None:
        self.hub = hub
        self.db = hub.db
        self.project_id = project_id
        self.runner = runner
        self.runs: dict[str, RunState] = {}  # the runs in progress
        self.executions: dict[str, ExecutionHandle] = {}  # their live executions, for cancel and decide
        self.parking = parking.Parking()  # templates paused at a usage limit, parked executions to wake
        self.land = land_node.LandNode.of(self, self._settle, hub.settings)  # land nodes, merge conflicts' repairs

    def start(self, nursery: trio.Nursery, run: RunState) -> None:
        """Drive ``run`` in ``nursery`` (the actor's); it counts as in progress from now on."""
        self.runs[run.id] = run
        with log_context(run_id=run.id):  # the run's task, and every line it logs, carries the run's id
            nursery.start_soon(self.drive, run)

    async def drive(self, run: RunState) -> None:
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
            status, changes, handle = await candidates.run(run, node, self, self.db, self.project_id)
        elif plans.waiting_for_review(run, node):  # since before a restart
            status, changes, handle = await self._review_plan(run, node, None)
        else:
            await land_node.premerge_fan_in(self.land, run, node)  # a conflicting fan-in: repaired by its agents
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

    async def _attempts(self, run: RunState, node: Node) -> Outcome:
        """Run a node until it succeeds or has no repair turn nor retry left; the last execution's outcome."""
        execution_id = run.first_execution[node["id"]]
        attempt = 1
        repair: repairs.Repair | None = None
        first_turn = plans.instruction(node) if node["kind"] == NodeKind.PLAN else node
        parked = parking.Parked.stored(run, node["id"])  # parked at a usage limit before a restart, or None
        while True:
            resumed: SessionContinuation | None = None
            if parked is not None:  # not a failure nor a retry: the same execution goes on, in its session if it can
                ended, resumed = await self._hold(run, node, execution_id, parked)
                if ended is not None:
                    return ended
            turn = node | {"prompt": repair.prompt} if repair else first_turn
            follow_up = repair.follow_up if repair else None
            if resumed is not None:
                turn, follow_up = node | {"prompt": parking.CONTINUE_PROMPT}, resumed
            earlier = parked.spent if parked is not None else None
            outcome = await self.execute(run, Attempt(turn, execution_id, attempt, follow_up, may_park=True,
                                                      earlier=earlier))
            status, changes, handle = outcome
            parked = parking.Parked.after(handle, changes) if status == ExecutionStatus.PARKED else None
            if parked is not None:
                await self._settle(handle)
                continue
            following = repairs.next_repair(run, node, handle, changes, repair)
            if isinstance(following, repairs.NoRepair):  # said in an event and the execution's error
                changes, following = repairs.record_no_repair(self.runner, handle, changes, following), None
            repair = following
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
            return outcome

    async def _review_plan(self, run: RunState, plan: Node,
                           answer: str | None) -> Outcome:
        """A person approves (or edits) a plan node's task list; approved, it grows (:mod:`orchestra.runtime.plans`)."""
        if answer is None:  # waiting since before a restart: the answer is stored
            review_id = run.first_execution[plan["id"]]
            answer = await self.db.read(lambda db: plans.stored_answer(db, run.id, plan["id"]))
        else:
            review_id = await self.db.write(lambda tx: transitions.insert_decision(
                tx, self.project_id, run.id, plan), wait_for_storage=True)
        gate = plan | {"kind": NodeKind.GATE, "agent": None, "timeout_s": None}
        return await self.execute(run, Attempt(gate, review_id, proposal=answer or ""))

    @staticmethod
    async def _settle(handle: ExecutionHandle) -> None:
        """Wait until an execution's writes, its final status last, have landed (even when cancelled)."""
        with trio.move_on_after(FINAL_WRITE_TIMEOUT_S) as scope:
            scope.shield = True
            try:
                await handle.settle()
            except Exception as exc:  # not stored: the next start records the execution as interrupted
                log.error("execution %s: its last writes were not stored: %s", handle.id, exc)

    async def execute(self, run: RunState, attempt: Attempt) -> Outcome:
        """Run one attempt; its final status is queued, not awaited (see :meth:`_settle`)."""
        with log_context(node_id=attempt.node["id"], execution_id=attempt.execution_id):
            return await self._execute(run, attempt)

    async def _execute(self, run: RunState, attempt: Attempt) -> Outcome:
        node, execution_id = attempt.node, attempt.execution_id
        handle = ExecutionHandle(execution_id, node["id"], run, candidate=attempt.candidate,
                                 pickable=attempt.pickable, proposal=attempt.proposal, earlier=attempt.earlier)
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
                elif node["kind"] == NodeKind.LAND:
                    ending = await self.land.run(run, node, handle)
                else:
                    ending = await self.parking.turn(self.runner, run, node, handle, attempt,
                                                     self.hub.settings.park_backoff_s)
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
        return Outcome(ending.status, changes, handle)

    def _record_ending(self, run: RunState, node: Node, handle: ExecutionHandle,
                       ending: Ending | None) -> dict[str, Any]:
        """Count the execution's usage into its run and queue its finished event."""
        cost, tokens = handle.turn_usage()
        run.spent_cost += cost
        run.spent_tokens += tokens
        assert ending is not None
        changes = handle.ending_changes(ending)
        if handle.parser is not None and not node["model"]:
            changes["model"] = handle.parser.report.model  # the CLI's default, as it reported it
        event = EventType.EXECUTION_FINISHED
        if ending.status == ExecutionStatus.PARKED:  # not finished: it goes on at resume_at
            event, changes["resume_at"] = EventType.EXECUTION_PARKED, ending.resume_at
            del changes["finished_at"]
        self.runner.queue_status(handle, changes, event)
        # Only unsuccessful ones at INFO: a line per execution cost ~0.1 ms of hub CPU (docs/PERFORMANCE.md).
        log.log(logging.DEBUG if ending.status == ExecutionStatus.SUCCEEDED else logging.INFO, "execution finished",
                extra={"run_id": run.id, "node_id": node["id"], "execution_id": handle.id, "status": ending.status,
                       "exit_code": changes.get("exit_code"), "error": ending.error, "agent": node["agent"]})
        return changes

    async def _hold(self, run: RunState, node: Node, execution_id: str,
                    parked: parking.Parked) -> tuple[Outcome | None, SessionContinuation | None]:
        """Wait while parked, cancellable as if it ran; then (None, the session it goes on with, or None
        for a fresh attempt), or (how it ended while parked, None)."""
        self.parking.pause(node["agent"] or "", parked.resume_at, execution_id)
        handle = ExecutionHandle(execution_id, node["id"], run)
        self.executions[execution_id] = run.handles[execution_id] = handle
        ending: Ending | None = None
        try:
            with handle.scope:
                await self.parking.hold(execution_id, parked.resume_at)
            if handle.scope.cancelled_caught:
                ending = handle.stop_ending or Ending(ExecutionStatus.CANCELLED, "cancelled by request")
        except BaseException:  # its run was cancelled, or the hub stops: then it stays parked for the next start
            if handle.stop_ending is None and not run.cancel_requested and self.hub.stopping:
                run.parked.add(execution_id)
                raise
            ending = handle.stop_ending or Ending(ExecutionStatus.CANCELLED if run.cancel_requested
                                                  else ExecutionStatus.INTERRUPTED, self._interruption())
            raise
        finally:
            self.executions.pop(execution_id, None)
            run.handles.pop(execution_id, None)
            changes = self._record_ending(run, node, handle, ending) if ending is not None else {}
        if ending is not None:
            return Outcome(ending.status, changes, handle), None
        return None, parked.continuation(execution_id, run.templates[node["agent"] or ""], run.workspace, run.repo)

    async def _grow(self, run: RunState, plan: Node, handle: ExecutionHandle, ending: Ending, answer: str | None,
                    *, review: bool = False) -> Ending:
        """A plan node's answer becomes nodes of its run (:mod:`orchestra.runtime.plans`), or fails it; one to be
        reviewed is only checked."""
        if review:
            error = await plans.check(answer, plan, self.hub)
        else:
            error = await plans.grow(self.db, self.project_id, run, plan, answer, self.hub)
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



def _failure_message(exc: Exception) -> str:
    if isinstance(exc, StorageUnavailable):
        return f"could not store the execution's work: {exc.message}"
    if isinstance(exc, ApiError):
        return exc.message
    return f"internal error: {exc!r}"
