"""Scenario 4: footprint. Resident memory (VmRSS of the hub process alone; agents are other processes)
and start-up time.

- idle: a fresh hub after start-up and one request to each main route.
- idle projects: ``projects`` projects created through the API and each run once (one trivial node),
  so that each has its project actor alive and idle; (RSS - idle RSS) / projects.
- per running execution: ``hanging`` agents (print their init line, then sleep) running at once in
  one run: (RSS while they run - RSS before the launch) / hanging, after one warm-up launch of the
  same DAG; the run is then cancelled and every agent must be gone.
- start-up: from spawning ``python orchestra.py`` to the first 200 from ``/health``, on an empty
  database and on one seeded directly with ``seed_projects`` projects and ``seed_events`` events
  (page cache warm: the seed was just written). The hub's CPU time at that moment is kept too: on a
  shared machine it says what the start-up costs when the wall time is inflated by other work.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from . import seed
from .harness import (
    BenchFailure,
    Follower,
    Scratch,
    add_template,
    create_nodes,
    create_project,
    expect,
    follow_until,
    hub_env,
    leftover_processes,
    run_hub,
    write_hang_agent,
    write_trivial_agent,
)
from .hub_subprocess import HubProcess
from .procfs import cpu_seconds
from .rest import Connection
from .stats import spread

MB = 1024 * 1024


async def _settle(hub: HubProcess) -> int:
    await trio.sleep(0.5)
    return hub.rss()


async def _launch_and_wait(hub: HubProcess, http: Any, project_id: str, until: str, count: int = 1) -> dict[str, Any]:
    """Launch, and return once ``count`` events of type ``until`` were seen (or the run finished)."""
    seen = [0]

    def done(event: dict[str, Any]) -> bool:
        if event["type"] == until:
            seen[0] += 1
        return seen[0] >= count or event["type"] == "run.finished"

    follower = Follower(hub, project_id)
    ready = trio.Event()
    launched: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        async def follow() -> None:
            launched["last"] = await follow_until(follower, done, ready, within=120)
        nursery.start_soon(follow)
        await ready.wait()
        launched |= await expect(await http.post("/launch", json={"project_id": project_id}), 202)
    return launched


async def memory(work: Scratch, *, projects: int, hanging: int, runs: int) -> dict[str, Any]:
    bin_dir = work.sub("bin")
    trivial, hang = write_trivial_agent(bin_dir), write_hang_agent(bin_dir)
    env = hub_env(work, "footprint.db", ORCHESTRA_MAX_PARALLEL=str(max(hanging + 2, 4)))
    report: dict[str, Any] = {"hub": "subprocess", "projects": projects, "hanging": hanging, "runs": runs}
    async with run_hub(work, env) as hub, hub.http() as http:
        await add_template(http, "bench-trivial", [str(trivial), "{prompt}"], work.mark)
        await add_template(http, "bench-hang", [str(hang), "{prompt}"], work.mark)
        for path in ("/health", "/projects", "/agent-templates", "/executions?limit=10", "/runs"):
            await expect(await http.get(path), 200)
        idle = await _settle(hub)
        report["idle_rss_mb"] = idle / MB

        # -- per running execution --
        project = await create_project(http, "hanging", max_parallel=hanging)
        await create_nodes(http, project["id"], [
            {"id": f"h{i}", "title": f"hang {i}", "prompt": "wait", "agent": "bench-hang"} for i in range(hanging)])
        per_execution = []
        for attempt in range(runs + 1):  # the first launch is a warm-up
            before = await _settle(hub)
            launched = await _launch_and_wait(hub, http, project["id"], "execution.output", hanging)
            during = await _settle(hub)
            if attempt:
                per_execution.append((during - before) / hanging)
            await expect(await http.post(f"/runs/{launched['run_id']}/cancel"), 202)
            await _wait_run(hub, http, launched["run_id"], project["id"])
            left = [pid for pid in leftover_processes(work.mark) if pid != hub.pid]
            if left:
                raise BenchFailure(f"cancelled agents still alive: {left}")
        report["per_running_execution_kb"] = spread([v / 1024 for v in per_execution])

        # -- idle projects --
        base = await _settle(hub)
        ids = []
        async with trio.open_nursery() as nursery:
            limit = trio.Semaphore(4)

            async def make(i: int) -> None:
                async with limit:
                    p = await create_project(http, f"idle {i}")
                    await create_nodes(http, p["id"], [{"id": "only", "title": "only", "prompt": "hi",
                                                         "agent": "bench-trivial"}], concurrency=1)
                    launched = await expect(await http.post("/launch", json={"project_id": p["id"]}), 202)
                    ids.append((p["id"], launched["run_id"]))

            for i in range(projects):
                nursery.start_soon(make, i)
        for project_id, run_id in ids:
            await _wait_run(hub, http, run_id, project_id)
        with_projects = await _settle(hub)
        report["rss_with_idle_projects_mb"] = with_projects / MB
        report["per_idle_project_kb"] = (with_projects - base) / projects / 1024
    return report


async def _wait_run(hub: HubProcess, http: Any, run_id: str, project_id: str) -> dict[str, Any]:
    with trio.fail_after(120):
        while True:
            run = await expect(await http.get(f"/runs/{run_id}"), 200)
            if run["status"] not in ("queued", "running"):
                return run
            await trio.sleep(0.05)


async def startup(work: Scratch, *, projects: int, events: int, runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {"hub": "subprocess", "projects": projects, "events": events, "runs": runs}

    def prepare() -> None:
        conn = seed.open_db(work.path / "startup.db")
        try:
            ids = seed.projects(conn, projects, work.path / "workspaces")
            execution_ids = seed.executions(conn, ids, max(projects * 10, 1000))
            seed.events(conn, ids, execution_ids, events)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    t0 = time.perf_counter()
    await trio.to_thread.run_sync(prepare)
    results["seed_s"] = time.perf_counter() - t0
    for label, db_name in (("empty", "startup-empty.db"), ("seeded", "startup.db")):
        times, rss, cpu = [], [], []
        for _ in range(runs):
            async with run_hub(work, hub_env(work, db_name)) as hub:
                connection = Connection(await trio.open_tcp_stream("127.0.0.1", hub.port), hub.port)
                status, body = await connection.get("/health")
                times.append(time.perf_counter() - hub.started_at)
                cpu.append(cpu_seconds(hub.pid))
                await connection.stream.aclose()
                if status != 200:
                    raise BenchFailure(f"/health -> {status}: {body[:200]!r}")
                rss.append(hub.rss() / MB)
        results[label] = {"to_health_s": spread(times), "hub_cpu_s_at_health": spread(cpu), "rss_mb": spread(rss)}
    return results
