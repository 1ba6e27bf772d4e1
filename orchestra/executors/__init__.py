"""Where an execution's agent process runs: the narrow boundary between the hub and a process.

An :class:`Executor` opens an execution from an :class:`~orchestra.executors.spec.AgentSpec` (argv,
absolute working directory, full environment, execution id, the executor's options). The
:class:`RunningAgent` it yields delivers its output as batches of lines to :meth:`RunningAgent.run`,
which returns how it ended (:class:`~orchestra.executors.spec.ProcessExit`): exited with a code, or
lost (the machine or engine under it went away; never re-run). Cancelling, the Trio way, is leaving
the ``open`` block: however it is left, the whole process tree is gone once it has been left, within
the grace period given to ``open``; leaving it twice is not possible, so a cancel can never be half done.

The actor, the writer, the event stream and the API see only this interface; an execution records
:attr:`RunningAgent.where` it ran. :class:`~orchestra.executors.local.LocalExecutor` is the default;
:mod:`orchestra.executors.ray` runs executions on a Ray cluster (``orchestra-hub[ray]``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from orchestra.core.settings import Settings
from orchestra.executors.spec import AgentSpec, OutputHandler, ProcessExit


class RunningAgent(Protocol):
    """A started agent process, wherever it runs (an execution's process; the execution is its row)."""

    @property
    def spec(self) -> AgentSpec: ...  # as the hub gave it (its cwd is the hub's path of the workspace)

    @property
    def where(self) -> str: ...  # "local", or e.g. "ray:<host>/<Ray node id>"

    @property
    def recovery_fields(self) -> dict[str, int | None]: ...  # stored on the execution's row: what the
    # executor needs to end the process after a hub crash (the local one's pid and start time; none for Ray)

    @property
    def returncode(self) -> int | None: ...

    @property
    def stderr_text(self) -> str: ...

    async def run(self, on_output: OutputHandler) -> ProcessExit: ...


class Executor(Protocol):
    name: str

    def open(self, spec: AgentSpec, grace_s: float) -> AbstractAsyncContextManager[RunningAgent]:
        """Start the agent (raise :class:`~orchestra.executors.spec.SpawnError` when it cannot be); the whole
        process tree is gone when the block is left, however it is left."""
        ...


@asynccontextmanager
async def open_executor(settings: Settings) -> AsyncIterator[Executor]:
    """The executor ``ORCHESTRA_EXECUTOR`` names, connected for the life of the block."""
    if settings.executor == "ray":
        from orchestra.executors.ray import open_ray_executor

        async with open_ray_executor(settings) as executor:
            yield executor
        return
    from orchestra.executors.local import LocalExecutor

    yield LocalExecutor()
