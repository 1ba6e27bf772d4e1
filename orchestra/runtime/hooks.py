"""The typed seams between the runtime's parts, so that each part names what it needs, not who gives it.

- :class:`HubServices`: what a project actor and its run driver need from their hub
  (:class:`orchestra.runtime.hub.Hub`).
- :class:`TemplateSource`: where agent templates are looked up (the hub); plans use it to check the
  agents their tasks name.
- :class:`AttemptRunner`: runs one execution of a node (:class:`~orchestra.runtime.run_state.Attempt`)
  and says how it ended; the run driver is one, and best of N (:mod:`orchestra.runtime.candidates`)
  runs its candidates and its pick through it.
"""

from __future__ import annotations

from typing import Protocol

import trio

from orchestra.core.rows import Template
from orchestra.core.settings import Settings
from orchestra.executors import Executor
from orchestra.executors.sandbox import Sandbox
from orchestra.runtime.run_state import Attempt, Outcome, RunState
from orchestra.storage.db import Database


class TemplateSource(Protocol):
    async def template(self, template_id: str) -> Template | None:
        """The agent template of that id (a built-in or a stored one), or None."""
        ...


class HubServices(TemplateSource, Protocol):
    """What a :class:`~orchestra.runtime.actor.ProjectActor` needs from its hub."""

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

    def forget_project(self, project_id: str) -> None:
        """The project was deleted: close its mailbox, which ends its actor."""


class AttemptRunner(Protocol):
    async def execute(self, run: RunState, attempt: Attempt) -> Outcome:
        """Run one execution of a node; its final status is queued, not awaited (settle its handle)."""
        ...
