"""Start latency and output throughput through the Ray executor against the local one, in one run.

Starts a small local Ray cluster (a head that runs nothing and one worker node, as in tests/test_ray.py),
then for each executor: ``--starts`` sequential executions of ``/bin/echo`` (time from ``open`` to the
agent's first line, and to the tree being gone), and one agent that prints ``--lines`` lines of 100
bytes as fast as it can (lines per second reaching the hub's output handler, nothing stored: the
writer's cost is the same for both and is measured by ``benchmarks.run``). Numbers go to
docs/PERFORMANCE.md; every Ray process is stopped at the end.

    .venv/bin/python -m benchmarks.ray_executor [--starts 20] [--lines 200000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
import trio
from ray.cluster_utils import Cluster

from orchestra.core.settings import load_settings
from orchestra.executors import Executor
from orchestra.executors.local import LocalExecutor
from orchestra.executors.ray import RayExecutor, open_ray_executor
from orchestra.executors.spec import AgentSpec
from orchestra.system.lines import Line

PRINTER = "import sys\nline = b'x' * 99 + b'\\n'\nw = sys.stdout.buffer.write\nfor _ in range({n}): w(line)\n"


def _spec(number: int, argv: list[str], cwd: Path) -> AgentSpec:
    return AgentSpec(f"bench-{number}", argv, cwd, dict(os.environ), None, {"bench": 1.0})


async def _starts(executor: Executor, count: int, cwd: Path) -> dict[str, Any]:
    """Sequential starts. The Ray executor's spare actor is waited for before each one: this is an
    execution that finds a warm spare (the first start of a placement, cold, is reported as ``first``)."""
    first_line, whole = [], []
    for number in range(count):
        if number and isinstance(executor, RayExecutor):
            spare = executor.spares[frozenset({"bench": 1.0}.items())]
            await trio.to_thread.run_sync(ray.get, spare.ready.remote())
        arrivals: list[float] = []

        async def on_output(lines: list[Line], arrivals: list[float] = arrivals) -> None:
            arrivals.append(time.perf_counter())

        started = time.perf_counter()
        async with executor.open(_spec(number, ["/bin/echo", "hello"], cwd), 2.0) as execution:
            await execution.run(on_output)
        first_line.append((arrivals[0] - started) * 1000)
        whole.append((time.perf_counter() - started) * 1000)
    return {"first_line_ms": _summary(first_line), "until_gone_ms": _summary(whole)}


async def _throughput(executor: Executor, lines: int, cwd: Path) -> dict[str, Any]:
    received, batches = 0, 0
    first = last = 0.0

    async def on_output(batch: list[Line]) -> None:
        nonlocal received, batches, first, last
        first = first or time.perf_counter()
        received += len(batch)
        batches += 1
        last = time.perf_counter()

    argv = [sys.executable, "-c", PRINTER.format(n=lines)]
    async with executor.open(_spec(10_000, argv, cwd), 2.0) as execution:
        await execution.run(on_output)
    assert received == lines, f"{received} of {lines} lines arrived"
    return {"lines": lines, "lines_per_s": round(lines / (last - first)), "batches": batches,
            "lines_per_batch": round(lines / batches, 1)}


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    later = sorted(values[1:]) or ordered  # the first start of a placement is cold: reported alone
    return {"first": round(values[0], 2), "p50": round(statistics.median(later), 2),
            "p90": round(later[max(0, int(len(later) * 0.9) - 1)], 2), "max": round(later[-1], 2)}


async def _measure(address: str, starts: int, lines: int, cwd: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    local = LocalExecutor()
    results["local"] = {**await _starts(local, starts, cwd), **await _throughput(local, lines, cwd)}
    settings = load_settings(executor="ray", ray_address=address, ray_shared_paths=str(cwd))
    async with open_ray_executor(settings) as ray_executor:
        results["ray"] = {**await _starts(ray_executor, starts, cwd), **await _throughput(ray_executor, lines, cwd)}
    results["ray_added_first_line_p50_ms"] = round(
        results["ray"]["first_line_ms"]["p50"] - results["local"]["first_line_ms"]["p50"], 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1, resources={"bench": 100})
        with tempfile.TemporaryDirectory() as scratch:
            results = trio.run(_measure, cluster.address, args.starts, args.lines, Path(scratch))
    finally:
        cluster.shutdown()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
