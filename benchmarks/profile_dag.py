"""Where the hub's CPU goes per DAG node: py-spy samples of the hub during launches only.

    pip install py-spy
    .venv/bin/python -m benchmarks.profile_dag --runs 5 --out /tmp/dag-profile          # every busy thread
    .venv/bin/python -m benchmarks.profile_dag --runs 5 --out /tmp/dag-profile --gil    # only the GIL holder

One hub subprocess, one project of the benchmark's trivial agent in the given shape (by default the
layered 500-node DAG, 10 layers each depending on the whole layer above, 8 in parallel), one warm-up
launch, then ``--runs`` launches. py-spy is attached to the hub for each launch from before ``POST
/launch`` to ``run.finished`` (node creation, the subscriber's snapshot and start-up are left out),
and its collapsed stacks are written to ``OUT/run<i>.txt``. The table printed is those samples put
into buckets (:data:`BUCKETS`, first match wins) in microseconds per node; ``--gil`` samples only the
thread holding the GIL (the Python work that serialises the hub), without it every thread that is
not idle (a thread waiting for the GIL counts too). The hub's own user and system CPU per node
(from /proc) are printed for each launch.
"""

from __future__ import annotations

import argparse
import collections
import signal
import subprocess
import sys
from pathlib import Path

import trio

from . import dag
from .harness import (
    Follower,
    add_template,
    create_nodes,
    create_project,
    expect,
    follow_until,
    hub_env,
    run_hub,
    scratch,
    write_trivial_agent,
)

RATE_HZ = 500
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("journal lines (format, write to stderr)", ("Logger.",)),
    ("spawn: open_process's thread hop, Popen, /proc start time", ("_spawn (", "Popen.")),
    ("launch, once per run: plan_launch and insert_run", ("plan_launch", "insert_run", "_launch.<locals>")),
    ("writer: started/finished rows and their events", ("update_execution",)),
    ("writer: output events", ("store_outputs",)),
    ("writer: transactions, savepoints, thread hop, publishing", ("_run_batch", "_serve_writes", "_run_job")),
    ("agent output: pumps, line splitting, parser", ("_pump_stdout", "_pump_stderr", "on_output")),
    ("agent end: wait, end_group, closing pipes", ("end_group", "AgentProcess.run", "Process.wait")),
    ("WebSocket fan-out (Quart, Hypercorn, wsproto)", ("api/ws.py", "hypercorn", "wsproto", "quart")),
    ("DAG driving: readiness, starting node tasks", ("_drive_run", "RunDriver.drive (")),
    ("rest of an attempt: prompt, argv, limiters, scopes", ("_run_node", "_execute", "RunDriver.execute", "attempt")),
    ("trio scheduler, epoll, other", ("",)),
]


def buckets(stack_files: list[Path]) -> tuple[int, dict[str, int]]:
    """Samples in all, and per bucket, of py-spy's raw (collapsed) output files."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for path in stack_files:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            stack, count = line.rsplit(" ", 1)
            total += int(count)
            counts[next(name for name, keys in BUCKETS if any(key in stack for key in keys))] += int(count)
    return total, dict(counts)


async def _follow(follower: Follower, ready: trio.Event, done: trio.Event) -> None:
    await follow_until(follower, lambda e: e["type"] == "run.finished", ready)
    done.set()


def _user_sys_ticks(pid: int) -> tuple[int, int]:
    """utime and stime in clock ticks (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat", "rb") as file:
        text = file.read()
    fields = text[text.rfind(b")") + 2 :].split()
    return int(fields[11]), int(fields[12])


async def profile(out: Path, *, shape: str, nodes: int, max_parallel: int, runs: int, gil: bool) -> list[Path]:
    spy = str(Path(sys.executable).with_name("py-spy"))
    files = []
    async with scratch(False) as work:
        agent = write_trivial_agent(work.sub("bin"))
        env = hub_env(work, "dag.db", ORCHESTRA_MAX_PARALLEL=str(max_parallel))
        async with run_hub(work, env) as hub, hub.http() as http:
            await add_template(http, "bench-trivial", [str(agent), "{prompt}"], work.mark)
            project = await create_project(http, f"dag {shape}", max_parallel=max_parallel)
            await create_nodes(http, project["id"], dag.shape_nodes(shape, nodes))
            await dag.hub_run(hub, http, project["id"], nodes)  # warm-up
            for i in range(runs):
                follower = Follower(hub, project["id"], keep=lambda e: e["type"] == "run.finished")
                ready, done = trio.Event(), trio.Event()

                files.append(out / f"run{i}.txt")
                argv = [spy, "record", "--pid", str(hub.pid), "--rate", str(RATE_HZ), "--format", "raw",
                        "--output", str(files[-1]), "--nonblocking", "--threads", *(["--gil"] if gil else [])]
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_follow, follower, ready, done)
                    await ready.wait()
                    spy_process = await trio.lowlevel.open_process(
                        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    await trio.sleep(0.7)  # let it attach
                    user0, sys0 = _user_sys_ticks(hub.pid)
                    await expect(await http.post("/launch", json={"project_id": project["id"]}), 202)
                    await done.wait()
                    user1, sys1 = _user_sys_ticks(hub.pid)
                    spy_process.send_signal(signal.SIGINT)
                    await spy_process.wait()
                tick_ms = 1000 / 100  # SC_CLK_TCK is 100 on Linux
                print(f"launch {i + 1}: hub CPU per node {(user1 - user0) * tick_ms / nodes:.2f} ms user, "
                      f"{(sys1 - sys0) * tick_ms / nodes:.2f} ms system (py-spy attached)", file=sys.stderr)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_dag", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory for the collapsed stacks (run<i>.txt)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--shape", default="layered", choices=("independent", "chain", "layered"))
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--max-parallel", type=int, default=8)
    parser.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    args = parser.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    files = trio.run(lambda: profile(Path(args.out), shape=args.shape, nodes=args.nodes,
                                     max_parallel=args.max_parallel, runs=args.runs, gil=args.gil))
    total, counts = buckets(files)
    per_node_us = 1e6 / RATE_HZ / (args.nodes * args.runs)
    print(f"{total} samples ({'GIL holder' if args.gil else 'busy threads'}), "
          f"{total * per_node_us / 1000:.3f} ms per node\n")
    print("| where | share | µs per node |\n|---|---:|---:|")
    for name, _ in BUCKETS:
        count = counts.get(name, 0)
        print(f"| {name} | {count / max(total, 1) * 100:.1f} % | {count * per_node_us:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
