"""Scenario 1: DAG throughput against a raw Trio baseline.

Three shapes of ``nodes`` trivial agents (dash printing a three-line claude-stream-json transcript):
all independent, one chain, and 10 layers each fully connected to the previous one. The hub's wall
time runs from sending ``POST /launch`` to receiving ``run.finished`` on a WebSocket subscribed
before the launch. The raw baseline is a plain Trio function in this process: it spawns the same
argv (the same rendered prompts) in the same dependency order under a ``CapacityLimiter`` of the
same ``max_parallel``, each in its own session with stdout and stderr read to EOF, and no hub.
Overhead per node = (hub wall - baseline wall) / nodes, from the medians; the paired per-run
differences are reported too. Baseline and hub runs alternate so that drift hits both alike.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import trio

from orchestra.core.prompts import UpstreamResult, render_prompt

from .harness import (
    TRIVIAL_EVENTS_PER_NODE,
    BenchFailure,
    Follower,
    Scratch,
    add_template,
    create_nodes,
    create_project,
    expect,
    follow_until,
    hub_env,
    run_hub,
    write_trivial_agent,
)
from .procfs import cpu_seconds
from .stats import spread

PROMPT = "Do the task."


def shape_nodes(shape: str, count: int) -> list[dict[str, Any]]:
    def node(i: int, depends_on: list[str]) -> dict[str, Any]:
        return {"id": f"n{i}", "title": f"node {i}", "prompt": PROMPT, "agent": "bench-trivial",
                "depends_on": depends_on}

    if shape == "independent":
        return [node(i, []) for i in range(count)]
    if shape == "chain":
        return [node(i, [f"n{i - 1}"] if i else []) for i in range(count)]
    if shape == "layered":
        layers = 10
        width = count // layers
        return [node(layer * width + j, [f"n{(layer - 1) * width + k}" for k in range(width)] if layer else [])
                for layer in range(layers) for j in range(width)]
    raise ValueError(shape)


# -- the raw baseline ---------------------------------------------------------------------------------


async def raw_run(nodes: list[dict[str, Any]], agent: Path, cwd: Path, env: dict[str, str],
                  max_parallel: int) -> tuple[float, float]:
    """Wall time, and this process's CPU time (the children's own CPU is not in it, as for the hub)."""
    by_id = {node["id"]: node for node in nodes}
    waiting = {node["id"]: set(node["depends_on"]) for node in nodes}
    dependents: dict[str, list[str]] = {node["id"]: [] for node in nodes}
    for node in nodes:
        for up in node["depends_on"]:
            dependents[up].append(node["id"])
    results: dict[str, UpstreamResult] = {}
    limiter = trio.CapacityLimiter(max_parallel)
    send, receive = trio.open_memory_channel[tuple[str, int]](len(nodes))

    async def drain(stream: Any) -> None:
        while await stream.receive_some(65536):
            pass

    async def run_one(node_id: str) -> None:
        node = by_id[node_id]
        prompt = render_prompt(node["prompt"], [results[up] for up in node["depends_on"]])
        async with limiter:
            process = await trio.lowlevel.open_process(
                [str(agent), prompt], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=str(cwd), env=env, start_new_session=True)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain, process.stdout)
                nursery.start_soon(drain, process.stderr)
                await process.wait()
            await process.stdout.aclose()  # type: ignore[union-attr]
            await process.stderr.aclose()  # type: ignore[union-attr]
        send.send_nowait((node_id, process.returncode))

    started = time.perf_counter()
    cpu0 = _own_cpu()
    async with trio.open_nursery() as nursery:
        for node_id, ups in waiting.items():
            if not ups:
                nursery.start_soon(run_one, node_id)
        for _ in range(len(nodes)):
            node_id, code = await receive.receive()
            if code != 0:
                raise BenchFailure(f"baseline agent {node_id} exited {code}")
            results[node_id] = UpstreamResult(node_id, by_id[node_id]["title"], "ok")
            for child in dependents[node_id]:
                waiting[child].discard(node_id)
                if not waiting[child]:
                    nursery.start_soon(run_one, child)
    return time.perf_counter() - started, _own_cpu() - cpu0


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- where a chain's time goes -------------------------------------------------------------------------


def chain_phases(db_path: Path, run_id: str) -> dict[str, float]:
    """Median milliseconds of each step of one chain node, from the stored timestamps.

    ``started_at`` (the agent spawned) and ``finished_at`` (its exit handled) are taken by the actor;
    each event's ``ts`` when the database writer builds it. The writes are queued, not awaited, so
    steps 3 and 4 overlap the next node's steps 1 and 2: only 1 + 2 is the chain's critical path.
    """
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id, started_at, finished_at FROM executions WHERE run_id = ? ORDER BY num",
                            [run_id]).fetchall()
        ts: dict[tuple[str, str], list[float]] = {}
        for execution_id, type_, t in conn.execute(
                "SELECT execution_id, type, json_extract(body, '$.ts') FROM events WHERE execution_id IN "
                "(SELECT id FROM executions WHERE run_id = ?) ORDER BY seq", [run_id]):
            ts.setdefault((execution_id, type_), []).append(t)
    finally:
        conn.close()
    steps: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        steps.setdefault(name, []).append(seconds * 1000)

    previous_finished_at = None
    for execution_id, started_at, finished_at in sorted(rows, key=lambda r: r[1]):
        if previous_finished_at is not None:
            add("1 upstream exit handled -> spawned (schedule + spawn)", started_at - previous_finished_at)
        add("2 spawned -> exit handled (the agent runs, its output is read)", finished_at - started_at)
        add("3 spawned -> started event stored (queued)", ts[(execution_id, "execution.started")][0] - started_at)
        add("4 exit handled -> finished event stored (queued)",
            ts[(execution_id, "execution.finished")][0] - finished_at)
        previous_finished_at = finished_at
    return {name: statistics.median(values) for name, values in sorted(steps.items())}


# -- the hub run --------------------------------------------------------------------------------------


async def hub_run(hub: Any, http: Any, project_id: str, count: int) -> dict[str, float]:
    follower = Follower(hub, project_id, keep=lambda e: e["type"] in ("execution.finished", "run.finished"))
    ready = trio.Event()
    outcome: dict[str, Any] = {}

    async def follow() -> None:
        outcome["finished"] = await follow_until(follower, lambda e: e["type"] == "run.finished", ready)
        outcome["t1"] = time.perf_counter()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow)
        await ready.wait()
        first_seq = follower.last_seq
        cpu0 = cpu_seconds(hub.pid)
        t0 = time.perf_counter()
        launched = await expect(await http.post("/launch", json={"project_id": project_id}), 202)
        launch_s = time.perf_counter() - t0
    cpu = cpu_seconds(hub.pid) - cpu0
    finished = outcome["finished"]
    if finished["run_id"] != launched["run_id"] or finished["run"]["status"] != "succeeded":
        raise BenchFailure(f"run {launched['run_id']} ended {finished['run'].get('status')}: "
                           f"{finished['run'].get('error')}")
    statuses = [e["execution"]["status"] for e in follower.kept if e["type"] == "execution.finished"]
    expected_events = count * TRIVIAL_EVENTS_PER_NODE + 2
    if statuses.count("succeeded") != count or follower.last_seq - first_seq != expected_events:
        raise BenchFailure(f"run {launched['run_id']}: {statuses.count('succeeded')}/{count} succeeded, "
                           f"{follower.last_seq - first_seq} events seen, {expected_events} expected")
    return {"wall_s": outcome["t1"] - t0, "launch_reply_s": launch_s, "hub_cpu_s": cpu,
            "run_id": launched["run_id"]}


async def run(work: Scratch, *, nodes: int, runs: int, max_parallel: int,
              shapes: tuple[str, ...] = ("independent", "chain", "layered")) -> dict[str, Any]:
    agent = write_trivial_agent(work.sub("bin"))
    env = hub_env(work, "dag.db", ORCHESTRA_MAX_PARALLEL=str(max_parallel))
    report: dict[str, Any] = {"nodes": nodes, "runs": runs, "max_parallel": max_parallel,
                              "hub": "subprocess", "shapes": {}}
    async with run_hub(work, env) as hub, hub.http() as http:
        await add_template(http, "bench-trivial", [str(agent), "{prompt}"], work.mark)
        for shape in shapes:
            node_list = shape_nodes(shape, nodes)
            project = await create_project(http, f"dag {shape}", max_parallel=max_parallel)
            t0 = time.perf_counter()
            await create_nodes(http, project["id"], node_list)
            create_s = time.perf_counter() - t0
            agent_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
            agent_env["ORCHESTRA_BENCH_MARK"] = work.mark
            cwd = Path(project["workspace"])
            base, base_cpu, wall, cpu, launch, phases = [], [], [], [], [], []
            for _ in range(runs):
                base_wall, base_cpu_s = await raw_run(node_list, agent, cwd, agent_env, max_parallel)
                base.append(base_wall)
                base_cpu.append(base_cpu_s)
                result = await hub_run(hub, http, project["id"], nodes)
                wall.append(result["wall_s"])
                cpu.append(result["hub_cpu_s"])
                launch.append(result["launch_reply_s"])
                if shape == "chain":
                    phases.append(await trio.to_thread.run_sync(chain_phases, work.path / "dag.db", result["run_id"]))
            overhead_ms = (spread(wall)["median"] - spread(base)["median"]) / nodes * 1000
            report["shapes"][shape] = {
                "create_nodes_per_s": nodes / create_s,
                "baseline_wall_s": spread(base),
                "hub_wall_s": spread(wall),
                "launch_reply_s": spread(launch),
                "hub_cpu_ms_per_node": spread([c / nodes * 1000 for c in cpu]),
                "baseline_cpu_ms_per_node": spread([c / nodes * 1000 for c in base_cpu]),
                "overhead_ms_per_node": overhead_ms,
                **({"chain_phases_ms": {k: statistics.median(p[k] for p in phases) for k in phases[0]}}
                   if phases else {}),
                "overhead_ms_per_node_paired": spread(
                    [(w - b) / nodes * 1000 for w, b in zip(wall, base, strict=True)]),
            }
    return report
