"""process.AgentProcess: how the stdout pump ends after the agent exits, on real subprocesses."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trio

from orchestra.executors.local import open_agent_process
from orchestra.executors.spec import AgentSpec
from orchestra.system import process
from orchestra.system.lines import Line
from orchestra.system.process import group_members

WAIT_S = 30


def spec(tmp_path: Path, script: str) -> AgentSpec:
    return AgentSpec("e-test", [sys.executable, "-c", script], tmp_path, {"PATH": os.environ["PATH"]})


async def test_slow_handling_after_the_agent_exits_loses_no_line(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Handling output can lag far behind a fast agent (it waits for the database): that lag must not
    count as the agent's pipe staying open after exit, or the lines still in the pipe are dropped."""
    monkeypatch.setattr(process, "DRAIN_AFTER_EXIT_S", 0.05)
    lines = 2_000  # ~30 KB: all of it fits in the pipe, so the agent exits before anything is handled
    received: list[bytes] = []
    exited = trio.Event()

    async def slow_handler(batch: list[Line]) -> None:
        if not received:
            await exited.wait()
            await trio.sleep(0.3)  # the handling is slow on purpose: six times the drain time
        received.extend(line.data for line in batch)

    script = f"import sys\nfor i in range({lines}): sys.stdout.write(f'line {{i:05d}}\\n')\n"
    with trio.fail_after(WAIT_S):
        async with open_agent_process(spec(tmp_path, script), grace_s=1) as execution, trio.open_nursery() as nursery:
            async def mark_exit() -> None:
                await execution.process.wait()
                exited.set()

            nursery.start_soon(mark_exit)
            process_exit = await execution.run(slow_handler)
    assert process_exit.kind == "exited" and process_exit.exit_code == 0
    assert received == [f"line {i:05d}".encode() for i in range(lines)]


async def test_a_grandchild_holding_stdout_ends_the_reading_after_the_drain_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "DRAIN_AFTER_EXIT_S", 0.1)
    script = ("import subprocess, sys\n"
              "child = subprocess.Popen(['sleep', '3600'])\n"  # inherits our stdout and keeps it open
              "print(child.pid, flush=True)\n")
    received: list[bytes] = []

    async def handler(batch: list[Line]) -> None:
        received.extend(line.data for line in batch)

    with trio.fail_after(WAIT_S):
        async with open_agent_process(spec(tmp_path, script), grace_s=1) as execution:
            process_exit = await execution.run(handler)
            pgid = execution.pid
            assert group_members(pgid) == [int(received[0])], "the grandchild should still be running here"
    assert process_exit.kind == "exited" and process_exit.exit_code == 0
    assert group_members(pgid) == [], "open_agent_process should have ended the grandchild"
