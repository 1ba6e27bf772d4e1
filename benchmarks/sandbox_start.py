"""Start latency a bubblewrap sandbox adds per execution: the time from asking for an agent process
to its exit, for a trivial agent (``true``), with the sandbox and without, alternating in one run.

    .venv/bin/python -m benchmarks.sandbox_start [ROUNDS]

Both sides go through :func:`orchestra.system.process.open_agent_process` as the hub's executions
do (the sandboxed one includes building the bwrap argv on a worker thread); the hidden and scratch
paths are the hub's defaults for a state directory under a temporary directory.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import trio

from benchmarks.stats import percentile
from orchestra.core.settings import load_settings
from orchestra.executors.sandbox import hidden_paths
from orchestra.system.bwrap import SandboxSpec
from orchestra.system.lines import Line
from orchestra.system.process import AgentSpec, open_agent_process


async def one(spec: AgentSpec) -> tuple[float, float]:
    """(ms until the agent's first line arrived, ms until its whole process tree was gone)."""
    started = time.perf_counter()
    first: list[float] = []

    async def on_output(lines: list[Line]) -> None:
        if not first:
            first.append((time.perf_counter() - started) * 1000)

    async with open_agent_process(spec, 2.0) as process:
        await process.run(on_output)
    return first[0], (time.perf_counter() - started) * 1000


async def main(rounds: int) -> None:
    root = Path(tempfile.mkdtemp())
    settings = load_settings(database_url=f"sqlite:///{root / 'orchestra.db'}", workspaces=root / "workspaces")
    cwd = root / "workspaces" / ".worktrees" / "prj" / "exe"
    cwd.mkdir(parents=True)
    hidden, scratch, masked = hidden_paths(settings)
    echo = shutil.which("echo") or "/bin/echo"
    env = {"PATH": "/usr/bin:/bin", "HOME": "/root"}
    off = AgentSpec("exe_bench", [echo, "started"], cwd, env)
    on = AgentSpec("exe_bench", [echo, "started"], cwd, env, sandbox=SandboxSpec(hidden, scratch, masked))
    starts: dict[str, list[float]] = {"off": [], "bwrap": []}
    wholes: dict[str, list[float]] = {"off": [], "bwrap": []}
    for _ in range(5):  # warm up both
        await one(off)
        await one(on)
    for _ in range(rounds):
        for name, spec in (("off", off), ("bwrap", on)):
            start, whole = await one(spec)
            starts[name].append(start)
            wholes[name].append(whole)
    shutil.rmtree(root)
    print(f"{'':8}{'start p50':>10}{'p90':>8}{'whole p50':>11}{'p90':>8}   (ms; {rounds} executions each, alternating)")
    for name in starts:
        start, whole = sorted(starts[name]), sorted(wholes[name])
        print(f"{name:8}{percentile(start, 50):10.2f}{percentile(start, 90):8.2f}"
              f"{percentile(whole, 50):11.2f}{percentile(whole, 90):8.2f}")
    added = percentile(sorted(starts["bwrap"]), 50) - percentile(sorted(starts["off"]), 50)
    print(f"start latency added by the sandbox at p50: {added:.2f} ms")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 200)
