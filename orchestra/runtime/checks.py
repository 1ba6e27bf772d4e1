"""Checks: a command that says whether a node's work is done, and the repair turns a failing one asks for.

A node's ``check`` (an argv, run without a shell) runs in the execution's working directory once its
agent has succeeded; the node succeeds only when the check exits 0. The check runs like an agent
(:func:`orchestra.executors.local.open_agent_process`: its own process group, marked with the execution's
id, ended however the check ends), within its own timeout. Its start and end are project events
(``check.started``, ``check.finished`` with the exit code and the tail of its output).

When the check fails and the node allows ``max_repairs``, the project actor continues the agent's
own session (a follow-up turn: the CLI's resume command, the same working directory) with
:func:`repair_prompt`, which carries the command, its exit code and its output's tail; the repair is
a new execution of the same node and run, linked to the one it repairs (``parent_execution_id``).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import Any

import trio

from orchestra.executors.local import open_agent_process
from orchestra.executors.spec import AgentSpec, SpawnError
from orchestra.system.lines import Line

CHECK_TIMEOUT_S = 600.0  # a check's timeout when its node names none
OUTPUT_TAIL_CHARS = 8_000  # of a check's output, kept in its event and put in the repair prompt


@dataclass(frozen=True)
class CheckResult:
    """How one run of a check ended. ``exit_code`` is None when it could not start or timed out."""

    argv: list[str]
    exit_code: int | None
    output: str  # the tail of its stdout, then of its stderr
    duration_s: float
    error: str | None = None  # why it has no exit code
    started: bool = True  # False: it could not start (repairing the work cannot help that)

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def event(self) -> dict[str, Any]:
        """The ``check`` of its ``check.finished`` event."""
        return {"argv": self.argv, "passed": self.passed, "exit_code": self.exit_code, "error": self.error,
                "duration_s": round(self.duration_s, 3), "output": self.output}

    def failure(self) -> str:
        """The failed execution's error."""
        if self.error:
            return f"check `{shlex.join(self.argv)}`: {self.error}"
        return f"check `{shlex.join(self.argv)}` failed with exit code {self.exit_code}"


class _Tail:
    """The last OUTPUT_TAIL_CHARS of the lines a check prints."""

    def __init__(self) -> None:
        self.text = ""

    async def add(self, lines: list[Line]) -> None:
        chunk = "".join(line.data.decode("utf-8", errors="replace") + "\n" for line in lines)
        self.text = (self.text + chunk)[-OUTPUT_TAIL_CHARS:]

    def with_stderr(self, stderr: str) -> str:
        text = self.text + (f"--- stderr ---\n{stderr}" if stderr.strip() else "")
        return text[-OUTPUT_TAIL_CHARS:].replace("\x00", "")  # NUL cannot go into a repair prompt


async def run_check(spec: AgentSpec, timeout_s: float, grace_s: float) -> CheckResult:
    """Run the check of ``spec`` (argv, cwd, environment, the execution id it is marked with)."""
    started = time.monotonic()
    tail = _Tail()
    try:
        async with open_agent_process(spec, grace_s) as process:
            with trio.move_on_after(timeout_s) as deadline:
                exited = await process.run(tail.add)
    except SpawnError as exc:
        return CheckResult(spec.argv, None, "", time.monotonic() - started, f"cannot start: {exc}", started=False)
    output = tail.with_stderr(process.stderr_text)
    if deadline.cancelled_caught:
        return CheckResult(spec.argv, None, output, time.monotonic() - started,
                           f"did not finish within {timeout_s:g} s; it was stopped")
    return CheckResult(spec.argv, exited.exit_code, output, time.monotonic() - started)


def repair_prompt(result: CheckResult, repair: int, max_repairs: int) -> str:
    """What the agent's session is told when its work failed the check (repair ``repair`` of ``max_repairs``)."""
    what = result.error or f"failed with exit code {result.exit_code}"
    return (f"The check `{shlex.join(result.argv)}` {what}. Fix the work so that it passes; the check runs "
            f"again when you finish (repair {repair} of {max_repairs}).\n\n"
            f"The end of its output:\n```\n{result.output}\n```\n")
