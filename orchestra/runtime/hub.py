"""The Hub: owns the project actors (started on demand, restarted from the database after a crash),
the hub-wide execution limit, and the recovery of what a previous hub left running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import sqlite_utils
import trio

from orchestra.agents.templates import builtin_templates
from orchestra.core.errors import Conflict
from orchestra.core.rows import LaunchedRun, Template
from orchestra.core.settings import Settings
from orchestra.core.statuses import UNFINISHED_EXECUTION_STATUSES, UNFINISHED_RUN_STATUSES, sql_list
from orchestra.executors import Executor, open_executor
from orchestra.executors.local import end_leftovers
from orchestra.executors.sandbox import Sandbox, open_sandbox
from orchestra.runtime import availability, commands
from orchestra.runtime.actor import ProjectActor
from orchestra.runtime.commands import Envelope
from orchestra.runtime.notifications import Notifier
from orchestra.storage import definitions, history, store
from orchestra.storage.db import Database, fetch_rows
from orchestra.storage.events import EventBus
from orchestra.storage.transitions import abandon_run, finish_interrupted
from orchestra.system.process import become_subreaper

log = logging.getLogger(__name__)

RESTART_BACKOFF_MAX_S = 30.0

R = TypeVar("R")

_UNFINISHED_RUNS = f"SELECT id, project_id FROM runs WHERE status IN {sql_list(UNFINISHED_RUN_STATUSES)}"
_UNFINISHED_EXECUTIONS = ("SELECT id, pid, proc_start FROM executions WHERE status IN "
                          f"{sql_list(UNFINISHED_EXECUTION_STATUSES)}")


@dataclass
class _Mailbox:
    """A project's inbox. It outlives any one actor, so commands survive a restart."""

    send: trio.MemorySendChannel[Envelope[Any]]
    receive: trio.MemoryReceiveChannel[Envelope[Any]]
    actor: ProjectActor | None = None
    restarts: int = 0
    ready: trio.Event = field(default_factory=trio.Event)


class Hub:
    def __init__(self, settings: Settings, db: Database, token: str, executor: Executor,
                 sandbox: Sandbox | None = None) -> None:
        self.settings = settings
        self.executor = executor
        self.sandbox = sandbox or Sandbox("off: not probed")
        self.db = db
        self.bus: EventBus = db.bus
        self.token = token
        self.builtin_templates = builtin_templates(settings)
        self.limiter = trio.CapacityLimiter(settings.max_parallel)
        self.stopping = False
        self._mailboxes: dict[str, _Mailbox] = {}
        self.availability: dict[str, dict[str, Any]] = {}
        self.check_mark = availability.check_mark(str(settings.database_path))
        self._nursery: trio.Nursery | None = None
        self._actors_scope = trio.CancelScope()
        self.notifier: Notifier | None = None  # set by the server (orchestra/runtime/notifications.py)

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings, db: Database, token: str) -> AsyncIterator[Hub]:
        if not become_subreaper():
            log.warning("cannot become a child subreaper: agents' processes that leave their process group "
                        "(setsid) are not ended with their execution")
        sandbox = await open_sandbox(settings)
        async with open_executor(settings) as executor, trio.open_nursery() as nursery:
            hub = cls(settings, db, token, executor, sandbox)
            await hub.recover()
            if swept := await availability.sweep_leftover_checks(hub.check_mark):
                log.warning("ended %d leftover process(es) of an availability check", swept)
            await nursery.start(hub._serve_actors)
            await hub.resume_gated_runs()
            try:
                yield hub
            finally:
                # Every actor ends its agents and records them as interrupted before the
                # database closes (the writer outlives this block).
                hub.stop()

    async def _serve_actors(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the actors' nursery inside a scope of its own: stopping them leaves the caller running."""
        with self._actors_scope:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self.check_agents)
                task_status.started()
                await trio.sleep_forever()

    def stop(self) -> None:
        """Refuse new commands and cancel every actor: each ends its agents and records them."""
        self.stopping = True
        self._actors_scope.cancel()

    # -- templates ------------------------------------------------------------------------------

    async def template(self, template_id: str) -> Template | None:
        if template_id in self.builtin_templates:
            return self.builtin_templates[template_id]
        return await self.db.read(lambda db: store.user_template(db, template_id))

    async def check_agents(self) -> dict[str, dict[str, Any]]:
        """Find each template's executable and its ``--version``, all at once; keep the reports."""
        templates = [*self.builtin_templates.values(), *await self.db.read(store.user_templates)]
        reports: dict[str, dict[str, Any]] = {}

        async def check_one(template: Template) -> None:
            reports[template["id"]] = await self.check_agent(template)

        async with trio.open_nursery() as nursery:
            for template in templates:
                nursery.start_soon(check_one, template)
        missing = [f"{tid} ({report['error']})" for tid, report in reports.items() if not report["available"]]
        if missing:
            log.warning("agent CLI(s) not available: %s", "; ".join(missing))
        return reports

    async def check_agent(self, template: Template) -> dict[str, Any]:
        try:
            report = await availability.check(template, self.check_mark)
        except Exception as exc:  # a broken check must not take the actors' nursery down with it
            log.exception("checking agent template %s failed", template["id"])
            report = {"available": False, "path": None, "version": None, "checked_at": time.time(),
                      "error": f"the check itself failed: {exc!r}"}
        known = self.availability.get(template["id"])
        if known is None or known["checked_at"] <= report["checked_at"]:  # an older, slower check never wins
            self.availability[template["id"]] = report
        return report

    def check_agent_soon(self, template: Template) -> None:
        if self._nursery is not None and not self.stopping:
            self._nursery.start_soon(self.check_agent, template)

    # -- commands to project actors -------------------------------------------------------------

    async def send(self, project_id: str, command: commands.Command[R]) -> R:
        """Hand a command to the project's actor (starting it if needed) and wait for its reply."""
        if self.stopping:
            raise Conflict("the hub is shutting down")
        mailbox = self._mailboxes.get(project_id)
        if mailbox is None:
            await self.db.read(lambda db: store.require_project(db, project_id))
            mailbox = self._mailboxes.get(project_id)
            if mailbox is None:
                send, receive = trio.open_memory_channel[Envelope[Any]](256)
                mailbox = self._mailboxes[project_id] = _Mailbox(send, receive)
                assert self._nursery is not None
                self._nursery.start_soon(self._supervise, project_id, mailbox)
        envelope = Envelope(command)
        await mailbox.send.send(envelope)
        return await envelope.reply()

    async def _supervise(self, project_id: str, mailbox: _Mailbox) -> None:
        while True:
            actor = mailbox.actor = ProjectActor(self, project_id)
            try:
                await actor.run(mailbox.receive)
                return
            except Exception as exc:
                mailbox.restarts += 1
                log.exception("project actor %s crashed (restart %d)", project_id, mailbox.restarts)
                reason = f"the hub's actor of this project failed ({_innermost(exc)!r}); see the hub's log"
            with trio.CancelScope(shield=True):
                await self._recover_project(project_id, reason)
            await trio.sleep(min(RESTART_BACKOFF_MAX_S, 0.05 * 2**mailbox.restarts))

    def actor(self, project_id: str) -> ProjectActor | None:
        mailbox = self._mailboxes.get(project_id)
        return mailbox.actor if mailbox else None

    async def launch(self, project_id: str, node_ids: list[str] | None,
                     budget: dict[str, Any] | None = None, inputs: dict[str, str] | None = None) -> LaunchedRun:
        return await self.send(project_id, commands.Launch(node_ids, budget, inputs or {}))

    async def cancel_run(self, run_id: str) -> commands.RunCancelling:
        run = await self.db.read(lambda db: history.get_run(db, run_id))
        return await self.send(run["project_id"], commands.CancelRun(run_id))

    async def cancel_execution(self, execution_id: str) -> commands.ExecutionCancelling:
        return await self.execution_command(commands.CancelExecution(execution_id))

    async def execution_command(self, command: commands.ExecutionCommand[R]) -> R:
        """Send the actor of an execution's project a command about that execution."""
        execution = await self.db.read(lambda db: history.get_execution(db, command.execution_id))
        return await self.send(execution["project_id"], command)

    async def delete_project(self, project_id: str) -> None:
        await self.db.read(lambda db: store.require_project(db, project_id))
        if project_id in self._mailboxes:
            await self.send(project_id, commands.DeleteProject())
        else:
            await self.db.write(lambda tx: definitions.delete_project(tx, project_id))
        self.db.node_versions[project_id] = -1  # any cached node list of it is stale

    def forget_project(self, project_id: str) -> None:
        """Called by an actor whose project was deleted: close its mailbox, ending the actor."""
        mailbox = self._mailboxes.pop(project_id, None)
        if mailbox is not None:
            mailbox.send.close()

    # -- recovery -------------------------------------------------------------------------------

    async def recover(self) -> None:
        """Executions a previous hub left queued or running become ``interrupted``; their agents die."""
        await self._recover_project(None, "the hub stopped while it ran")

    async def resume_gated_runs(self) -> None:
        """Runs left waiting at a gate by the previous hub go on: their gates can be decided again."""
        for run in await self.db.read(lambda db: fetch_rows(db, _UNFINISHED_RUNS)):
            try:
                await self.send(run["project_id"], commands.ResumeRun(run["id"]))
            except Exception as exc:
                log.exception("could not resume run %s", run["id"])
                reason = f"could not go on after a restart: {exc}"
                await self.db.write(partial(abandon_run, project_id=run["project_id"], run_id=run["id"], reason=reason))

    async def _recover_project(self, project_id: str | None, reason: str) -> None:
        leftovers = await self.db.read(lambda db: _unfinished(db, project_id))
        await trio.to_thread.run_sync(end_leftovers, leftovers)  # agents on this machine, by pid or mark
        if leftovers or project_id is None:
            await self.db.write(lambda tx: finish_interrupted(tx, project_id, reason))


def _innermost(exc: BaseException) -> BaseException:
    """The one exception a chain of single-member nursery groups wraps."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _unfinished(db: sqlite_utils.Database, project_id: str | None) -> list[dict[str, Any]]:
    if project_id is None:
        return fetch_rows(db, _UNFINISHED_EXECUTIONS)
    return fetch_rows(db, _UNFINISHED_EXECUTIONS + " AND project_id = ?", [project_id])

