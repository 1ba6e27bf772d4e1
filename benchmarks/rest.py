"""Scenario 3: REST under load, at a fixed concurrency (4 keep-alive connections, closed loop).

The database is seeded directly (:mod:`benchmarks.seed`): one project of ``nodes`` nodes in 10
layers (each node depends on two nodes of the layer above), and ``executions`` finished executions
spread over 100 projects. Then the hub starts on it, and each endpoint gets a warm-up followed by
``requests`` requests per run. The load generator is a minimal HTTP/1.1 client on trio streams
(no httpx) so that it costs the shared CPU as little as possible; latency is per request, from
sending it to having read the whole body. Every answer must be 200 with the expected item count.
"""

from __future__ import annotations

import json
import time
from typing import Any

import trio

from . import seed
from .harness import TOKEN, BenchFailure, Scratch, hub_env, run_hub
from .hub_subprocess import HubProcess
from .procfs import cpu_seconds
from .stats import latency_summary, spread


class Connection:
    """One keep-alive HTTP/1.1 connection; ``get`` returns (status, body)."""

    def __init__(self, stream: trio.SocketStream, port: int) -> None:
        self.stream = stream
        self.port = port
        self.buffer = bytearray()
        self.reconnects = 0

    async def _fill(self) -> None:
        chunk = await self.stream.receive_some(1 << 20)
        if not chunk:
            raise EOFError
        self.buffer += chunk

    async def get(self, path: str) -> tuple[int, bytes]:
        request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                   f"Authorization: Bearer {TOKEN}\r\n\r\n").encode()
        try:
            await self.stream.send_all(request)
            await self._fill()
        except (EOFError, trio.BrokenResourceError):
            # The server may close an idle keep-alive connection (hypercorn: after 1,000 requests, or
            # 10 s idle: KEEP_ALIVE_TIMEOUT_S in orchestra/server.py); a client then reconnects. Counted,
            # and reported.
            await self.stream.aclose()
            self.stream = await trio.open_tcp_stream("127.0.0.1", self.port)
            self.buffer.clear()
            self.reconnects += 1
            await self.stream.send_all(request)
        try:
            return await self._read_response(path)
        except EOFError:
            raise BenchFailure(f"the hub closed the connection in the middle of the answer to {path}") from None

    async def _read_response(self, path: str) -> tuple[int, bytes]:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            await self._fill()
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[:end + 4]
        status = int(head[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        if "content-length" not in headers:
            raise BenchFailure(f"no content-length in the answer to {path}: {headers}")
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            await self._fill()
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return status, body


async def load(hub: HubProcess, path: str, requests: int, concurrency: int,
               check: Any) -> dict[str, Any]:
    """``requests`` GETs of ``path`` over ``concurrency`` connections; requests/s and latencies."""
    latencies: list[float] = []
    remaining = [requests]
    reconnects = [0]

    async def client() -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", hub.port)
        connection = Connection(stream, hub.port)
        try:
            while remaining[0] > 0:
                remaining[0] -= 1
                t0 = time.perf_counter()
                status, body = await connection.get(path)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    raise BenchFailure(f"GET {path} -> {status}: {body[:300]!r}")
                check(body)
        finally:
            reconnects[0] += connection.reconnects
            await connection.stream.aclose()

    cpu0 = cpu_seconds(hub.pid)
    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(client)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(hub.pid) - cpu0
    return {"requests_per_s": requests / wall, "hub_cpu_ms_per_request": cpu / requests * 1000,
            "reconnects": reconnects[0], **latency_summary(latencies)}


def _expect_count(key: str, count: int) -> Any:
    """The first answer is decoded and its items counted; every later one must be byte-identical
    (nothing writes during the scenario). Decoding each 0.75 MB answer in the clients' own loop cost
    them ~5 ms a time, during which the other connections' answers waited unread: the client's work
    showed up as the hub's latency."""
    first: list[bytes] = []

    def check(body: bytes) -> None:
        if first:
            if body != first[0]:
                raise BenchFailure(f"an answer to the {key} list differs from the first one")
            return
        got = len(json.loads(body)[key])
        if got != count:
            raise BenchFailure(f"expected {count} {key}, got {got}")
        first.append(body)

    return check


async def run(work: Scratch, *, nodes: int, executions: int, requests: int, runs: int,
              concurrency: int = 4) -> dict[str, Any]:
    db_path = work.path / "rest.db"

    def prepare() -> str:
        conn = seed.open_db(db_path)
        try:
            project_ids = seed.projects(conn, 100, work.path / "workspaces")
            seed.layered_nodes(conn, project_ids[0], nodes)
            seed.executions(conn, project_ids, executions)
            return project_ids[0]
        finally:
            conn.close()

    t0 = time.perf_counter()
    project_id = await trio.to_thread.run_sync(prepare)
    seed_s = time.perf_counter() - t0
    endpoints = {
        "nodes": (f"/projects/{project_id}/nodes", _expect_count("nodes", nodes)),
        "executions": ("/executions?limit=100", _expect_count("executions", min(100, executions))),
    }
    report: dict[str, Any] = {"nodes": nodes, "executions": executions, "requests_per_run": requests,
                              "runs": runs, "concurrency": concurrency, "hub": "subprocess",
                              "seed_s": seed_s, "endpoints": {}}
    async with run_hub(work, hub_env(work, "rest.db")) as hub:
        for name, (path, check) in endpoints.items():
            await load(hub, path, max(20, requests // 10), concurrency, check)  # warm-up
            results = [await load(hub, path, requests, concurrency, check) for _ in range(runs)]
            report["endpoints"][name] = {
                "path": path.replace(project_id, "{id}"),
                "requests_per_s": spread([r["requests_per_s"] for r in results]),
                "p50_ms": spread([r["p50_ms"] for r in results]),
                "p99_ms": spread([r["p99_ms"] for r in results]),
                "max_ms": spread([r["max_ms"] for r in results]),
                "hub_cpu_ms_per_request": spread([r["hub_cpu_ms_per_request"] for r in results]),
                "reconnects": sum(r["reconnects"] for r in results),
            }
    return report
