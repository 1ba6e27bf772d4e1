"""The default executor: the agent is a subprocess of the hub, in its own session and process group.

:func:`open_agent_process` takes an :class:`~orchestra.executors.spec.AgentSpec` and yields an
:class:`AgentProcess`; its :meth:`AgentProcess.run` delivers batches of output lines and returns a
:class:`~orchestra.executors.spec.ProcessExit`. Cancelling the scope ``run`` is awaited in is how an
execution is cancelled, the Trio way: leaving the ``open_agent_process`` block ends the whole process
group (SIGTERM, grace, SIGKILL; :func:`orchestra.system.process.end_group`), shielded, so once the
block is left no process is left.

What only a local process has stays here: its pid and start time, stored on the execution's row
(:attr:`AgentProcess.recovery_fields`), with which a hub restarted after a crash ends what the
previous one left running (:func:`end_leftovers`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import subprocess
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from orchestra.core.statuses import ProcessEnd
from orchestra.executors.spec import AgentSpec, OutputHandler, ProcessExit, SpawnError
from orchestra.system.bwrap import sandboxed_argv
from orchestra.system.lines import LineSplitter
from orchestra.system.process import (
    DRAIN_AFTER_EXIT_S,
    EXECUTION_MARK,
    STDERR_KEEP_BYTES,
    end_group,
    kill_marked,
    kill_orphan_group,
    process_start_ticks,
    register_leader,
    spawn_error_message,
)

log = logging.getLogger(__name__)


class LocalExecutor:
    name = "local"

    def open(self, spec: AgentSpec, grace_s: float) -> AbstractAsyncContextManager[AgentProcess]:
        return open_agent_process(spec, grace_s)


def end_leftovers(leftovers: Iterable[dict[str, Any]]) -> None:
    """After a hub stopped or crashed: end the agents its unfinished executions left (rows with ``id``,
    ``pid``, ``proc_start``). A stored pid is matched with its start time, so a reused pid is never
    killed; agents started too late for their pid to be stored, and their descendants that left the
    group, are found by their execution's mark. Blocking: call from a worker thread."""
    rows = list(leftovers)
    for row in rows:
        if row["pid"]:
            killed = kill_orphan_group(row["pid"], row["proc_start"])
            if killed:
                log.warning("ended %d leftover process(es) of execution %s", killed, row["id"])
    marked = kill_marked({row["id"] for row in rows})
    if marked:
        log.warning("ended %d leftover process(es) found by their execution mark", marked)


@dataclass
class AgentProcess:
    """A started agent: its process, and the tail of its stderr once :meth:`run` pumps it."""

    spec: AgentSpec
    process: trio.Process
    start_ticks: int | None  # its start time in /proc: tells it from a later process with its PID
    grace_s: float
    stderr_tail: bytearray = field(default_factory=bytearray)

    where = "local"  # what an execution records as where it ran

    @property
    def recovery_fields(self) -> dict[str, int | None]:
        """The pid and start time the hub stores, so a later hub can end this group (:func:`end_leftovers`)."""
        return {"pid": self.process.pid, "proc_start": self.start_ticks}

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    @property
    def stderr_text(self) -> str:
        return self.stderr_tail.decode("utf-8", errors="replace")

    async def run(self, on_output: OutputHandler) -> ProcessExit:
        """Pump stdout to ``on_output`` line batches until the agent and its output are done.
        Leftovers of its process group are ended by :func:`open_agent_process` when its block exits."""
        async with trio.open_nursery() as nursery:
            stored, reading = trio.Event(), _Reading()
            if self.spec.stdin is not None:
                nursery.start_soon(self._feed_stdin, self.spec.stdin)
            nursery.start_soon(self._pump_stdout, on_output, reading, stored)
            nursery.start_soon(self._pump_stderr)
            await self.process.wait()
            reading.agent_exited()
            await stored.wait()
            nursery.cancel_scope.cancel()
        return ProcessExit(ProcessEnd.EXITED, self.process.returncode)

    async def _pump_stdout(self, on_output: OutputHandler, reading: _Reading, stored: trio.Event) -> None:
        assert self.process.stdout is not None
        splitter = LineSplitter()
        while True:
            with trio.CancelScope(deadline=reading.deadline) as reading.scope:
                chunk = await self.process.stdout.receive_some(65536)
            if reading.scope.cancelled_caught or not chunk:
                break
            lines = splitter.feed(chunk)
            if lines:
                handling_since = trio.current_time()
                await on_output(lines)
                reading.deadline += trio.current_time() - handling_since
        last = splitter.finish()
        if last:
            await on_output(last)
        stored.set()

    async def _feed_stdin(self, data: bytes) -> None:
        """The prompt, for CLIs that take it on stdin; an agent that exits without reading it is fine."""
        assert self.process.stdin is not None
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.process.stdin.send_all(data)
            await self.process.stdin.aclose()  # EOF: the CLI starts once it has the whole prompt

    async def _pump_stderr(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.receive_some(65536):
            self.stderr_tail += chunk
            if len(self.stderr_tail) > STDERR_KEEP_BYTES:
                del self.stderr_tail[: len(self.stderr_tail) - STDERR_KEEP_BYTES]


@dataclass
class _Reading:
    """When the stdout pump gives up on EOF: DRAIN_AFTER_EXIT_S of waiting on the pipe after the agent
    exited (a grandchild may hold it open). Time spent handling what was read does not count: that
    waits for the database, which can be seconds behind a fast agent, and the pipe still holds lines."""

    deadline: float = math.inf
    scope: trio.CancelScope | None = None

    def agent_exited(self) -> None:
        self.deadline = trio.current_time() + DRAIN_AFTER_EXIT_S
        if self.scope is not None:
            self.scope.deadline = self.deadline


@asynccontextmanager
async def open_agent_process(spec: AgentSpec, grace_s: float) -> AsyncIterator[AgentProcess]:
    """Spawn the agent; however the block ends (even cancelled before ``run``), its group is gone after."""
    agent = await _spawn(spec, grace_s)
    try:
        yield agent
    finally:
        with trio.CancelScope(shield=True):
            await end_group(agent.process, grace_s, spec.execution_id)


async def _spawn(spec: AgentSpec, grace_s: float) -> AgentProcess:
    """Argv as is (no shell), stdin /dev/null or the given bytes, a new session and process group,
    the execution's mark in the environment."""
    try:
        argv = spec.argv if spec.sandbox is None else await trio.to_thread.run_sync(
            sandboxed_argv, spec.argv, str(spec.cwd), spec.env, spec.sandbox)
        process = await trio.lowlevel.open_process(
            argv,
            stdin=subprocess.DEVNULL if spec.stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(spec.cwd),
            env=spec.env | {EXECUTION_MARK: spec.execution_id},
            start_new_session=True,
        )
        register_leader(process.pid)
    except (ValueError, OSError) as exc:
        raise SpawnError(spawn_error_message(exc, spec.argv[0], spec.cwd)) from None
    return AgentProcess(spec, process, process_start_ticks(process.pid), grace_s)
