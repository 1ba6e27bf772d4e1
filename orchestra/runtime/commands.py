"""The commands a project actor serves, as typed messages, and the envelope they travel in.

Routes ask the hub (:meth:`orchestra.runtime.hub.Hub.send`), the hub puts the command in an
:class:`Envelope` into the project's mailbox, and :class:`orchestra.runtime.actor.ProjectActor` dispatches
it by its type and puts the reply (or the error) back into the envelope. Each command says the type
of its reply (``Command[Reply]``); ``name`` is how logs and error messages call it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypedDict, TypeVar

import trio

from orchestra.core.rows import LaunchedRun
from orchestra.core.statuses import CancelStatus, ExecutionStatus

if TYPE_CHECKING:
    from orchestra.flows.files import ParsedFlow
    from orchestra.storage.db import WriteJobContext

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class RunCancelling(TypedDict):
    run_id: str
    status: Literal[CancelStatus.CANCELLING]


class ExecutionCancelling(TypedDict):
    execution_id: str
    status: Literal[CancelStatus.CANCELLING]


class Decided(TypedDict):
    execution_id: str
    status: ExecutionStatus


class Command(Generic[R_co]):
    """A request to a project actor whose reply is an ``R_co``."""

    __slots__ = ()
    name: ClassVar[str]


@dataclass(frozen=True, slots=True)
class ExecutionCommand(Command[R_co]):
    """A command about one execution: the hub finds its project from ``execution_id``."""

    execution_id: str


@dataclass(frozen=True, slots=True)
class Launch(Command[LaunchedRun]):
    name: ClassVar[str] = "launch"
    node_ids: list[str] | None  # None: every node of the project
    budget: dict[str, Any] | None = None
    inputs: dict[str, str] = field(default_factory=dict)  # values of the prompts' {{inputs.NAME}}
    trigger: dict[str, Any] | None = None  # what launched it, stored on the run (None: a request)
    # Runs in the run's own transaction (a schedule claiming its tick): raising refuses the launch.
    claim: Callable[[WriteJobContext, str], None] | None = None


@dataclass(frozen=True, slots=True)
class FollowUp(ExecutionCommand[LaunchedRun]):
    """Continue a finished execution's agent session with a new prompt, as a run of its own."""

    name: ClassVar[str] = "follow_up"
    prompt: str


@dataclass(frozen=True, slots=True)
class ResumeRun(Command[None]):
    """Go on with a run a previous hub left waiting at a gate."""

    name: ClassVar[str] = "resume_run"
    run_id: str


@dataclass(frozen=True, slots=True)
class CancelRun(Command[RunCancelling]):
    name: ClassVar[str] = "cancel_run"
    run_id: str


@dataclass(frozen=True, slots=True)
class CancelExecution(ExecutionCommand[ExecutionCancelling]):
    name: ClassVar[str] = "cancel_execution"


class ExecutionResuming(TypedDict):
    execution_id: str
    status: Literal["resuming"]


@dataclass(frozen=True, slots=True)
class ResumeExecution(ExecutionCommand[ExecutionResuming]):
    """Wake an execution parked at a usage limit now, instead of at its ``resume_at``."""

    name: ClassVar[str] = "resume_execution"


@dataclass(frozen=True, slots=True)
class Decide(ExecutionCommand[Decided]):
    """Approve or reject a gate waiting for a decision."""

    name: ClassVar[str] = "decide"
    approve: bool
    comment: str | None
    candidate: str | None = None  # best of N: the candidate execution approved
    plan: dict[str, Any] | None = None  # a plan's review: the task list as edited


@dataclass(frozen=True, slots=True)
class ApplyFlow(Command[dict[str, Any]]):
    """Make the project match a flow file: through the actor, so that no launch interleaves with it."""

    name: ClassVar[str] = "apply_flow"
    flow: ParsedFlow
    workspace: str | None  # the flow's workspace, resolved; None: leave it
    dry_run: bool


@dataclass(frozen=True, slots=True)
class DeleteProject(Command[None]):
    name: ClassVar[str] = "delete_project"


class Envelope(Generic[R]):
    """A command on its way to an actor, with the slot its reply comes back in."""

    def __init__(self, command: Command[R]) -> None:
        self.command = command
        self._done = trio.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def resolve(self, result: Any) -> None:
        self._result = result
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    async def reply(self) -> R:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        result: R = self._result
        return result
