"""Scenario 2: the event path, agent stdout → parser → SQLite → fan-out → WebSocket subscribers.

``agents`` stream agents (one project, one node each, all running at once) print ``lines`` assistant
text lines each as fast as they can, each line carrying the agent's ``time.time_ns()`` at the write.
``subscribers`` WebSocket clients subscribe before the launch. Each subscriber checks that ``seq`` is
gap-free from its snapshot to ``run.finished`` (a 4008 close is followed by a reconnect with
``since``, and counted), and takes the latency of every agent line from the embedded stamp to the
moment the message holding it was received. The subscribers use a minimal WebSocket client
(:mod:`benchmarks.wsclient`) and decode no JSON (a regular expression takes the seqs and stamps) so
that they take as little CPU as possible from the hub, which runs on the same machine.

Stored rate: agent text events / (last - first stored ``ts``) from the database after the run.
Delivered rate: agent text events / (last - first receive) at each subscriber; the slowest one counts.
"""

from __future__ import annotations

import json
import re
import resource
import sqlite3
import time
from array import array
from typing import Any

import trio

from .harness import (
    BenchFailure,
    Scratch,
    add_template,
    create_nodes,
    create_project,
    expect,
    hub_env,
    run_hub,
    write_stream_agent,
)
from .hub_subprocess import HubProcess
from .procfs import cpu_seconds
from .stats import latency_summary, spread
from .wsclient import Closed, WebSocket

_SEQ = re.compile(rb'"seq":(\d+)')
_STAMP = re.compile(rb'"text":"bench \d+ \d+ (\d+)"')
_RUN_FINISHED = b'"type":"run.finished"'


class Subscriber:
    def __init__(self, hub: HubProcess, project_id: str) -> None:
        self.hub = hub
        self.project_id = project_id
        self.last_seq = 0
        self.events = 0
        self.lines = 0
        self.reconnects = 0
        self.first_line_at: float | None = None
        self.last_line_at = 0.0
        self.latencies_ns = array("q")
        self.finished = False

    def _take(self, message: bytes, received_ns: int) -> None:
        seqs = [int(s) for s in _SEQ.findall(message)]
        if seqs and seqs != list(range(self.last_seq + 1, self.last_seq + 1 + len(seqs))):
            if message.startswith(b'{"type":"heartbeat"'):
                return
            raise BenchFailure(f"subscriber saw seqs {seqs[:3]}… after {self.last_seq}: lost or repeated events")
        if seqs:
            self.last_seq = seqs[-1]
            self.events += len(seqs)
        stamps = _STAMP.findall(message)
        if stamps:
            now = received_ns / 1e9
            if self.first_line_at is None:
                self.first_line_at = now
            self.last_line_at = now
            self.lines += len(stamps)
            self.latencies_ns.extend([received_ns - int(s) for s in stamps])
        if _RUN_FINISHED in message:
            self.finished = True

    async def follow(self, ready: trio.Event, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        first = True
        while not self.finished:
            path = self.hub.ws_url(self.project_id, None if first else self.last_seq).split(str(self.hub.port), 1)[1]
            try:
                ws = await WebSocket.connect("127.0.0.1", self.hub.port, path)
                try:
                    if first:
                        snapshot = json.loads(await ws.get_message())
                        self.last_seq = snapshot["seq"]
                        first = False
                        task_status.started()
                    await ready.wait()
                    while not self.finished:
                        message = await ws.get_message()
                        self._take(message, time.time_ns())
                finally:
                    with trio.CancelScope(shield=True):
                        await ws.aclose()
            except Closed as closed:
                if closed.code == 4008:
                    self.reconnects += 1
                    continue
                raise BenchFailure(f"subscriber closed: {closed}") from None


def _stored(db_path: str, run_id: str) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        executions = [r[0] for r in conn.execute("SELECT id FROM executions WHERE run_id = ?", [run_id])]
        marks = ",".join("?" * len(executions))
        row = conn.execute(
            f"SELECT count(*), min(json_extract(body, '$.ts')), max(json_extract(body, '$.ts')) FROM events "
            f"WHERE execution_id IN ({marks}) AND type = 'execution.output' "
            "AND json_extract(body, '$.output.text') LIKE 'bench %'", executions).fetchone()
        project = conn.execute("SELECT project_id FROM runs WHERE id = ?", [run_id]).fetchone()[0]
        count, top = conn.execute("SELECT count(*), max(seq) FROM events WHERE project_id = ?", [project]).fetchone()
        return {"lines": row[0], "first_ts": row[1], "last_ts": row[2], "gap_free": count == top}
    finally:
        conn.close()


async def one_run(work: Scratch, hub: HubProcess, http: Any, project_id: str, agents: int, lines: int,
                  subscribers: int) -> dict[str, Any]:
    subs = [Subscriber(hub, project_id) for _ in range(subscribers)]
    ready = trio.Event()
    async with trio.open_nursery() as nursery:
        for sub in subs:
            await nursery.start(sub.follow, ready)
        ready.set()
        cpu0, bench0 = cpu_seconds(hub.pid), _own_cpu()
        t0 = time.time()
        launched = await expect(await http.post("/launch", json={"project_id": project_id}), 202)
    wall = time.time() - t0
    hub_cpu, bench_cpu = cpu_seconds(hub.pid) - cpu0, _own_cpu() - bench0
    run = await expect(await http.get(f"/runs/{launched['run_id']}"), 200)
    if run["status"] != "succeeded":
        raise BenchFailure(f"event-path run {run['id']} ended {run['status']}: {run.get('error')}")
    stored = await trio.to_thread.run_sync(_stored, str(work.path / "events.db"), launched["run_id"])
    expected = agents * lines
    if stored["lines"] != expected or not stored["gap_free"]:
        raise BenchFailure(f"stored {stored['lines']} of {expected} agent lines; gap-free: {stored['gap_free']}")
    for sub in subs:
        if sub.lines != expected:
            raise BenchFailure(f"a subscriber received {sub.lines} of {expected} agent lines")
    latencies = array("q")
    for sub in subs:
        latencies.extend(sub.latencies_ns)
    delivered = [sub.lines / (sub.last_line_at - sub.first_line_at) for sub in subs]  # type: ignore[operator]
    return {
        "wall_s": wall,
        "stored_per_s": expected / (stored["last_ts"] - stored["first_ts"]),
        "delivered_per_s_per_subscriber_min": min(delivered),
        "delivered_per_s_per_subscriber_median": sorted(delivered)[len(delivered) // 2],
        "latency": latency_summary([v / 1e9 for v in latencies]),
        "reconnects_4008": sum(sub.reconnects for sub in subs),
        "hub_cpu_s": hub_cpu,
        "hub_cpu_us_per_event": hub_cpu / expected * 1e6,
        "bench_cpu_s": bench_cpu,
    }


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(work: Scratch, *, agents: int, lines: int, subscribers: int, runs: int,
              paced_total_rate: float, modes: tuple[str, ...] = ("saturated", "paced")) -> dict[str, Any]:
    """Two modes: ``saturated`` (agents print flat out) and ``paced`` (``paced_total_rate`` lines/s in all)."""
    agent = write_stream_agent(work.sub("bin"))
    env = hub_env(work, "events.db", ORCHESTRA_MAX_PARALLEL=str(max(agents, 2)))
    report: dict[str, Any] = {"agents": agents, "lines_per_agent": lines, "subscribers": subscribers,
                              "runs": runs, "hub": "subprocess", "modes": {}}
    async with run_hub(work, env) as hub, hub.http() as http:
        await add_template(http, "bench-stream", [str(agent), "{prompt}"], work.mark)
        for mode, rate in (("saturated", 0.0), ("paced", paced_total_rate / agents)):
            if mode not in modes:
                continue
            project = await create_project(http, f"event path {mode}", max_parallel=agents)
            await create_nodes(http, project["id"], [
                {"id": f"a{i}", "title": f"agent {i}", "prompt": f"agent={i} lines={lines} rate={rate:g}",
                 "agent": "bench-stream"} for i in range(agents)])
            results = []
            for _ in range(runs):
                results.append(await one_run(work, hub, http, project["id"], agents, lines, subscribers))
            report["modes"][mode] = _summarize(results) | {"agent_rate_lines_per_s": rate or None}
    return report


def _summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "wall_s": spread([r["wall_s"] for r in results]),
        "stored_per_s": spread([r["stored_per_s"] for r in results]),
        "delivered_per_s_per_subscriber": spread([r["delivered_per_s_per_subscriber_min"] for r in results]),
        "latency_p50_ms": spread([r["latency"]["p50_ms"] for r in results]),
        "latency_p99_ms": spread([r["latency"]["p99_ms"] for r in results]),
        "latency_max_ms": spread([r["latency"]["max_ms"] for r in results]),
        "reconnects_4008": sum(r["reconnects_4008"] for r in results),
        "hub_cpu_s": spread([r["hub_cpu_s"] for r in results]),
        "hub_cpu_us_per_event": spread([r["hub_cpu_us_per_event"] for r in results]),
        "bench_cpu_s": spread([r["bench_cpu_s"] for r in results]),
    }
