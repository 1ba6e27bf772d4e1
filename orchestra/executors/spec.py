"""The executor contract's data: what to start (:class:`AgentSpec`), how it ended (:class:`ProcessExit`),
why it could not start (:class:`SpawnError`), and how its output is handed over (:data:`OutputHandler`).

Every executor (local, Ray) takes and gives these; the runtime builds them without knowing which
executor runs the agent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestra.core.statuses import ProcessEnd
from orchestra.system.bwrap import SandboxSpec
from orchestra.system.lines import Line


@dataclass(frozen=True)
class AgentSpec:
    """What to start: the agent's command line, working directory, environment and stdin."""

    execution_id: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    stdin: bytes | None = None  # written to the agent's stdin, then closed; None: /dev/null
    # The executor's options for where it may run (a node's or template's ``placement``): the Ray
    # executor reads them as custom resources (e.g. {"claude": 1}); the local executor has none.
    executor_options: dict[str, float] = field(default_factory=dict)
    # Where the execution it follows up ran (its ``ran_on``): a follow-up goes where the session is.
    same_place_as: str | None = None
    # The sandbox it runs in (orchestra.system.bwrap); None: none.
    sandbox: SandboxSpec | None = None


@dataclass(frozen=True)
class ProcessExit:
    """How the agent process ended: it exited (an execution's :class:`~orchestra.runtime.run_state.Ending`
    takes its exit code), or the machine it ran on was lost (``reason``; never re-run)."""

    kind: ProcessEnd  # a cancelled execution raises Cancelled instead
    exit_code: int | None = None
    reason: str | None = None


class SpawnError(Exception):
    """The agent could not be started at all (missing executable, bad working directory, no worker)."""


# The execution row's columns an executor may fill (RunningAgent.recovery_fields) to find its process
# again after a hub crash: the local executor's pid and start time.
RECOVERY_COLUMNS = ("pid", "proc_start")

# Called with each batch of the agent's output lines; the next batch is read once it returns.
OutputHandler = Callable[[list[Line]], Awaitable[None]]
