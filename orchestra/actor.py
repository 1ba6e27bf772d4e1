"""ProjectActor: the single writer of one project's runs and executions.

Routes send it commands through the hub (launch, cancel, delete) and await the reply. Each run is a
task in the actor's nursery that starts nodes as their upstream nodes succeed; each execution is a
task of its run. Cancelling a scope ends the agents below it (their process groups are killed by
:mod:`orchestra.process`), and every execution's final state is written, shielded, on the way out.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from . import history, store
from .agents import AgentParser, make_parser
from .dag import downstream_of
from .db import Tx, fetch_rows
from .errors import ApiError, Conflict, Unprocessable
from .lines import Line
from .process import ExecutionSpec, LocalExecution, SpawnError, start_local
from .prompts import UpstreamResult, render_prompt
from .templates import agent_environment, build_argv

log = logging.getLogger("orchestra.actor")

RAW_LINE_KEEP = 64 * 1024
RETRY_BACKOFF_MAX_S = 60.0
FINAL_WRITE_TIMEOUT_S = 30.0


class Command:
    """A request to an actor, with the slot its reply comes back in."""

    def __init__(self, name: str, args: dict[str, Any]) -> None:
        self.name = name
        self.args = args
        self._done = trio.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def resolve(self, result: Any) -> None:
        self._result = result
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    async def reply(self) -> Any:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result


@dataclass
class RunState:
    id: str
    nodes: dict[str, dict[str, Any]]  # node rows of this run, fixed at launch
    templates: dict[str, dict[str, Any]]
    first_execution: dict[str, str]  # node id -> its queued execution
    results: dict[str, UpstreamResult]  # upstream results, including those reused from earlier runs
    workspace: str
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    cancel_requested: bool = False


@dataclass
class ExecutionHandle:
    id: str
    node_id: str
    run: RunState
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    cancel_requested: bool = False
    process: LocalExecution | None = None
    parser: AgentParser | None = None


@dataclass
class Final:
    status: str
    error: str | None = None
    exit_code: int | None = None


class ProjectActor:
    def __init__(self, hub: Any, project_id: str) -> None:
        self.hub = hub
        self.db = hub.db
        self.project_id = project_id
        self.runs: dict[str, RunState] = {}
        self.executions: dict[str, ExecutionHandle] = {}
        self.limiter = trio.CapacityLimiter(hub.settings.max_parallel)
        self._nursery: trio.Nursery | None = None

    async def run(self, inbox: trio.MemoryReceiveChannel[Command]) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            async for command in inbox:
                handler = getattr(self, f"_on_{command.name}")
                try:
                    command.resolve(await handler(**command.args))
                except ApiError as exc:
                    command.fail(exc)
                except BaseException as exc:
                    command.fail(ApiError("internal error; see the hub's log"))
                    raise exc
            nursery.cancel_scope.cancel()

    # -- commands ---------------------------------------------------------------------------------

    async def _on_launch(self, node_ids: list[str] | None) -> dict[str, Any]:
        plan = await self.db.read(lambda db: _plan_launch(db, self.project_id, node_ids))
        templates = {}
        for agent in {node["agent"] for node in plan["nodes"].values()}:
            template = await self.hub.template(agent)
            if template is None:
                raise Unprocessable(f"agent template '{agent}' does not exist")
            templates[agent] = template
        max_parallel = plan["project"]["max_parallel"] or self.hub.settings.max_parallel
        self.limiter.total_tokens = max_parallel
        launched = await self.db.write(lambda tx: _insert_run(tx, self.project_id, plan, node_ids))
        run = RunState(
            id=launched["run_id"],
            nodes=plan["nodes"],
            templates=templates,
            first_execution={e["node_id"]: e["id"] for e in launched["executions"]},
            results=plan["reused"],
            workspace=plan["project"]["workspace"],
        )
        self.runs[run.id] = run
        assert self._nursery is not None
        self._nursery.start_soon(self._drive_run, run)
        return launched

    async def _on_cancel_run(self, run_id: str) -> dict[str, Any]:
        run = self.runs.get(run_id)
        if run is None:
            raise Conflict(f"run '{run_id}' is not running")
        run.cancel_requested = True
        run.scope.cancel()
        return {"run_id": run_id, "status": "cancelling"}

    async def _on_cancel_execution(self, execution_id: str) -> dict[str, Any]:
        handle = self.executions.get(execution_id)
        if handle is None:
            raise Conflict(f"execution '{execution_id}' is not running or queued")
        handle.cancel_requested = True
        handle.scope.cancel()
        return {"execution_id": execution_id, "status": "cancelling"}

    async def _on_delete_project(self) -> None:
        if self.runs:
            raise Conflict(f"project '{self.project_id}' has a run in progress; cancel it first")
        await self.db.write(lambda tx: store.delete_project(tx, self.project_id))
        self.hub.forget_project(self.project_id)

    # -- runs -------------------------------------------------------------------------------------

    async def _drive_run(self, run: RunState) -> None:
        """Start each node once all its upstream nodes of this run succeeded; skip below failures."""
        waiting_on = {
            node_id: {up for up in node["depends_on"] if up in run.nodes} for node_id, node in run.nodes.items()
        }
        dependents: dict[str, list[str]] = {node_id: [] for node_id in run.nodes}
        for node_id, ups in waiting_on.items():
            for up in ups:
                dependents[up].append(node_id)
        outcome: dict[str, str] = {}
        send, receive = trio.open_memory_channel[tuple[str, str]](math.inf)
        try:
            with run.scope:
                async with trio.open_nursery() as nursery:
                    for node_id, ups in waiting_on.items():
                        if not ups:
                            nursery.start_soon(self._run_node, run, node_id, send)
                    while len(outcome) < len(run.nodes):
                        node_id, status = await receive.receive()
                        outcome[node_id] = status
                        if status == "succeeded":
                            for child in dependents[node_id]:
                                waiting_on[child].discard(node_id)
                                if not waiting_on[child]:
                                    nursery.start_soon(self._run_node, run, child, send)
                        else:
                            below = downstream_of(
                                {n: list(ups) for n, ups in waiting_on.items()}, [node_id]
                            ) - {node_id} - outcome.keys()
                            if below:
                                skipped = [(n, run.first_execution[n]) for n in sorted(below)]
                                await self.db.write(
                                    lambda tx, s=skipped, n=node_id: _skip(tx, self.project_id, run.id, s, n)
                                )
                                outcome.update(dict.fromkeys(below, "skipped"))
        finally:
            self.runs.pop(run.id, None)
            if run.cancel_requested:
                status, error = "cancelled", "cancelled by request"
            elif len(outcome) < len(run.nodes):
                status, error = "cancelled", "the hub stopped while it ran"
            elif all(s == "succeeded" for s in outcome.values()):
                status, error = "succeeded", None
            else:
                failed = sorted(n for n, s in outcome.items() if s not in ("succeeded", "skipped"))
                status, error = "failed", f"node(s) did not succeed: {', '.join(failed)}"
            leftover_status = "cancelled" if run.cancel_requested else "interrupted"
            with trio.move_on_after(FINAL_WRITE_TIMEOUT_S) as scope:
                scope.shield = True
                await self.db.write(
                    lambda tx: _finish_run(tx, self.project_id, run.id, status, error, leftover_status)
                )

    async def _run_node(self, run: RunState, node_id: str, done: trio.MemorySendChannel[tuple[str, str]]) -> None:
        node = run.nodes[node_id]
        execution_id = run.first_execution[node_id]
        attempt = 1
        while True:
            status, result = await self._execute(run, node, execution_id)
            if status in ("failed", "timed_out") and attempt <= node["retries"]:
                await trio.sleep(min(RETRY_BACKOFF_MAX_S, 0.5 * 2 ** (attempt - 1)))
                attempt += 1
                execution_id = await self.db.write(
                    lambda tx, a=attempt: _insert_retry(tx, self.project_id, run.id, node, a)
                )
                continue
            break
        if status == "succeeded":
            run.results[node_id] = UpstreamResult(node_id, node["title"], result or "")
        done.send_nowait((node_id, status))

    # -- executions -------------------------------------------------------------------------------

    async def _execute(self, run: RunState, node: dict[str, Any], execution_id: str) -> tuple[str, str | None]:
        handle = ExecutionHandle(execution_id, node["id"], run)
        self.executions[execution_id] = handle
        final: Final | None = None
        try:
            with handle.scope:
                final = await self._attempt(run, node, handle)
            if final is None:
                final = Final("cancelled", "cancelled by request")
        except BaseException as exc:
            if _is_cancellation(exc):
                cancelled = handle.cancel_requested or run.cancel_requested
                final = Final("cancelled", "cancelled by request") if cancelled else Final(
                    "interrupted", "the hub stopped while it ran")
            else:
                log.exception("execution %s failed inside the hub", execution_id)
                final = Final("failed", f"internal error: {exc!r}")
            raise
        finally:
            self.executions.pop(execution_id, None)
            assert final is not None
            with trio.move_on_after(FINAL_WRITE_TIMEOUT_S) as scope:
                scope.shield = True
                result = await self.db.write(lambda tx: _finish_execution(tx, self.project_id, handle, final))
        return final.status, result

    async def _attempt(self, run: RunState, node: dict[str, Any], handle: ExecutionHandle) -> Final:
        template = run.templates[node["agent"]]
        upstream = [run.results[up] for up in node["depends_on"] if up in run.results]
        prompt = render_prompt(node["prompt"], upstream)
        argv = build_argv(template["command"], {
            "prompt": prompt, "model": node["model"] or template["default_model"],
            "workspace": run.workspace, "session_id": None,
        })
        handle.parser = make_parser(template["output"])
        spec = ExecutionSpec(handle.id, argv, Path(run.workspace), agent_environment(template["env"]))
        async with self.limiter, self.hub.limiter:
            try:
                process = await start_local(spec, self.hub.settings.kill_grace_s)
            except SpawnError as exc:
                await self.db.write(lambda tx: _start_execution(tx, self.project_id, handle, prompt, argv, None))
                await self._store_output(handle, [{"kind": "error", "message": str(exc)}])
                return Final("failed", str(exc))
            handle.process = process
            await self.db.write(lambda tx: _start_execution(tx, self.project_id, handle, prompt, argv, process))
            timeout = node["timeout_s"]
            with trio.move_on_after(timeout if timeout else math.inf) as deadline:
                ending = await process.run(self._output_handler(handle))
            parser = handle.parser
            if deadline.cancelled_caught:
                message = f"timed out after {timeout:g} s; the agent was stopped"
                await self._store_output(handle, [{"kind": "error", "message": message}])
                return Final("timed_out", message)
            closing = parser.finish(ending.exit_code, process.stderr_text)
            if closing:
                await self._store_output(handle, closing)
            status = "succeeded" if parser.outcome.succeeded else "failed"
            return Final(status, parser.outcome.error if status == "failed" else None, ending.exit_code)

    def _output_handler(self, handle: ExecutionHandle) -> Callable[[list[Line]], Awaitable[None]]:
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
                await self._store_output(handle, events)

        return on_output

    async def _store_output(self, handle: ExecutionHandle, outputs: list[dict[str, Any]]) -> None:
        ids = {"run_id": handle.run.id, "node_id": handle.node_id, "execution_id": handle.id}

        def store_events(tx: Tx) -> None:
            for output in outputs:
                tx.emit(self.project_id, "execution.output", **ids, output=output)

        await self.db.write(store_events)


def _is_cancellation(exc: BaseException) -> bool:
    """Cancelled, or a group of nothing but Cancelled (what a cancelled nursery raises)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)[1] is None
    return isinstance(exc, trio.Cancelled)


# -- transactions (run in the writer thread) -------------------------------------------------------


def _plan_launch(db: Any, project_id: str, node_ids: list[str] | None) -> dict[str, Any]:
    project = store.get_project(db, project_id)
    nodes = {node["id"]: node for node in store.list_nodes(db, project_id)}
    if not nodes:
        raise Conflict(f"project '{project_id}' has no nodes to launch")
    graph = {node_id: node["depends_on"] for node_id, node in nodes.items()}
    if node_ids is None:
        selected = set(nodes)
    else:
        missing = [n for n in node_ids if n not in nodes]
        if missing:
            raise Unprocessable(f"node(s) not in project '{project_id}': {', '.join(missing)}",
                                {"field": "node_ids", "missing": missing})
        selected = downstream_of(graph, node_ids)
    reused: dict[str, UpstreamResult] = {}
    for node_id in selected:
        for up in nodes[node_id]["depends_on"]:
            if up in selected or up in reused:
                continue
            row = db.execute(
                "SELECT result_text FROM executions WHERE project_id = ? AND node_id = ? "
                "AND status = 'succeeded' ORDER BY num DESC LIMIT 1", [project_id, up]).fetchone()
            if row is None:
                raise Conflict(
                    f"node '{node_id}' depends on '{up}', which has never succeeded; launch '{up}' too",
                    {"node_id": node_id, "upstream": up})
            reused[up] = UpstreamResult(up, nodes[up]["title"], row[0] or "")
    ordered = [node_id for node_id in nodes if node_id in selected]
    return {"project": project, "nodes": {n: nodes[n] for n in ordered}, "reused": reused}


def _execution_row(project_id: str, run_id: str, node: dict[str, Any], attempt: int) -> dict[str, Any]:
    return {
        "id": store.new_id("exe"), "project_id": project_id, "run_id": run_id, "node_id": node["id"],
        "attempt": attempt, "status": "queued", "agent": node["agent"], "model": node["model"],
        "created_at": time.time(),
    }


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "run_id", "node_id", "attempt", "status", "agent", "model", "exit_code", "error",
            "result_text", "session_id", "input_tokens", "output_tokens", "cost_usd", "created_at",
            "started_at", "finished_at")
    return {key: row.get(key) for key in keep}


def _insert_run(tx: Tx, project_id: str, plan: dict[str, Any], node_ids: list[str] | None) -> dict[str, Any]:
    now = time.time()
    run = {"id": store.new_id("run"), "project_id": project_id, "status": "running",
           "node_ids": json.dumps(node_ids) if node_ids else None, "created_at": now, "started_at": now}
    tx.db["runs"].insert(run)
    rows = [_execution_row(project_id, run["id"], node, 1) for node in plan["nodes"].values()]
    tx.db["executions"].insert_all(rows)
    tx.emit(project_id, "run.started", run_id=run["id"], run={**run, "node_ids": node_ids})
    for row in rows:
        tx.emit(project_id, "execution.queued", run_id=run["id"], node_id=row["node_id"],
                execution_id=row["id"], execution=_summary(row))
    return {"run_id": run["id"], "status": "running",
            "executions": [{"id": r["id"], "node_id": r["node_id"], "status": "queued"} for r in rows]}


def _insert_retry(tx: Tx, project_id: str, run_id: str, node: dict[str, Any], attempt: int) -> str:
    row = _execution_row(project_id, run_id, node, attempt)
    tx.db["executions"].insert(row)
    tx.emit(project_id, "execution.queued", run_id=run_id, node_id=node["id"], execution_id=row["id"],
            execution=_summary(row))
    return row["id"]


def _start_execution(tx: Tx, project_id: str, handle: ExecutionHandle, prompt: str, argv: list[str],
                     process: LocalExecution | None) -> None:
    changes = {"status": "running", "prompt": prompt, "argv": json.dumps(argv), "started_at": time.time(),
               "workspace": handle.run.workspace,
               "pid": process.pid if process else None, "proc_start": process.start_ticks if process else None}
    _update_execution(tx, handle.id, changes)
    row = history.get_execution(tx.db, handle.id)
    tx.emit(project_id, "execution.started", run_id=handle.run.id, node_id=handle.node_id,
            execution_id=handle.id, execution=_summary(row))


def _update_execution(tx: Tx, execution_id: str, changes: dict[str, Any]) -> None:
    assignments = ", ".join(f"{column} = ?" for column in changes)
    tx.execute(f"UPDATE executions SET {assignments} WHERE id = ?", [*changes.values(), execution_id])


def _finish_execution(tx: Tx, project_id: str, handle: ExecutionHandle, final: Final) -> str | None:
    outcome = handle.parser.outcome if handle.parser else None
    process = handle.process
    changes: dict[str, Any] = {"status": final.status, "error": final.error, "exit_code": final.exit_code,
                               "finished_at": time.time()}
    if process is not None:
        changes["stderr"] = process.stderr_text
        if final.exit_code is None:
            changes["exit_code"] = process.process.returncode
    if outcome is not None:
        changes |= {"result_text": outcome.result_text, "session_id": outcome.session_id,
                    "input_tokens": outcome.input_tokens, "output_tokens": outcome.output_tokens,
                    "cost_usd": outcome.cost_usd}
        if outcome.model and not tx.execute("SELECT model FROM executions WHERE id = ?", [handle.id]).fetchone()[0]:
            changes["model"] = outcome.model
    _update_execution(tx, handle.id, changes)
    row = history.get_execution(tx.db, handle.id)
    tx.emit(project_id, "execution.finished", run_id=handle.run.id, node_id=handle.node_id,
            execution_id=handle.id, execution=_summary(row))
    return row["result_text"]


def _skip(tx: Tx, project_id: str, run_id: str, skipped: list[tuple[str, str]], because: str) -> None:
    now = time.time()
    for node_id, execution_id in skipped:
        tx.execute("UPDATE executions SET status = 'skipped', error = ?, finished_at = ? WHERE id = ?",
                   [f"upstream node '{because}' did not succeed", now, execution_id])
        row = history.get_execution(tx.db, execution_id)
        tx.emit(project_id, "execution.finished", run_id=run_id, node_id=node_id, execution_id=execution_id,
                execution=_summary(row))


def _finish_run(tx: Tx, project_id: str, run_id: str, status: str, error: str | None,
                leftover_status: str) -> None:
    """Close the run; executions that never got to start take ``leftover_status``."""
    now = time.time()
    for row in fetch_rows(tx.db, "SELECT id, node_id FROM executions WHERE run_id = ? AND status = 'queued'",
                          [run_id]):
        tx.execute("UPDATE executions SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                   [leftover_status, error, now, row["id"]])
        execution = history.get_execution(tx.db, row["id"])
        tx.emit(project_id, "execution.finished", run_id=run_id, node_id=row["node_id"],
                execution_id=row["id"], execution=_summary(execution))
    tx.execute("UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
               [status, error, now, run_id])
    run = history.get_run(tx.db, run_id)
    run.pop("executions")
    tx.emit(project_id, "run.finished", run_id=run_id, run=run)


def finish_interrupted(tx: Tx, project_id: str | None, reason: str) -> None:
    """Recovery: what is still marked queued/running becomes interrupted, its runs cancelled."""
    where, params = ("", []) if project_id is None else (" AND project_id = ?", [project_id])
    now = time.time()
    for row in fetch_rows(tx.db, "SELECT id, project_id, run_id, node_id FROM executions "
                          f"WHERE status IN ('queued', 'running', 'waiting'){where}", params):
        tx.execute("UPDATE executions SET status = 'interrupted', error = ?, finished_at = ? WHERE id = ?",
                   [reason, now, row["id"]])
        execution = history.get_execution(tx.db, row["id"])
        tx.emit(row["project_id"], "execution.finished", run_id=row["run_id"], node_id=row["node_id"],
                execution_id=row["id"], execution=_summary(execution))
    for row in fetch_rows(tx.db, f"SELECT id, project_id FROM runs WHERE status IN ('queued', 'running'){where}",
                          params):
        tx.execute("UPDATE runs SET status = 'cancelled', error = ?, finished_at = ? WHERE id = ?",
                   [reason, now, row["id"]])
        run = history.get_run(tx.db, row["id"])
        run.pop("executions")
        tx.emit(row["project_id"], "run.finished", run_id=row["id"], run=run)
