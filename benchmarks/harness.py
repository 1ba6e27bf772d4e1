"""What every scenario shares: a scratch directory, the hub as a real subprocess (``python
orchestra.py``, started by benchmarks/hub_subprocess.py as the tests start theirs), the benchmark
agents, a WebSocket follower, and the leftover-process check.

Every process the benchmarks start (the hub, the agents, the agents' children) carries the scratch
directory's path in its environment (``ORCHESTRA_BENCH_MARK``; the agents get it through their
template's ``env``), so :func:`leftover_processes` finds anything left behind by scanning /proc.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from . import hub_subprocess
from .hub_subprocess import HubDidNotStart, HubProcess
from .procfs import processes_mentioning

TOKEN = "bench-token-0123456789abcdef"
MARK_VAR = "ORCHESTRA_BENCH_MARK"


class BenchFailure(Exception):
    """A run lost an event, left a process behind, or the hub misbehaved: the benchmark fails."""


# -- scratch directory and leftover processes -------------------------------------------------------


@dataclass
class Scratch:
    path: Path

    @property
    def mark(self) -> str:
        return str(self.path)

    def sub(self, name: str) -> Path:
        path = self.path / name
        path.mkdir(parents=True, exist_ok=True)
        return path


@asynccontextmanager
async def scratch(keep: bool = False) -> AsyncIterator[Scratch]:
    path = Path(tempfile.mkdtemp(prefix="orchestra-bench-"))
    failed = False
    try:
        yield Scratch(path)
    except BaseException:
        failed = True  # keep the databases and hub logs to look at
        print(f"[bench] kept {path} (hub logs: hub-*.log)", file=sys.stderr)
        raise
    finally:
        left = leftover_processes(str(path))
        for pid in left:
            _kill(pid)
        if not keep and not failed:
            shutil.rmtree(path, ignore_errors=True)
        if left:
            raise BenchFailure(f"processes left behind (now killed): {left}")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def leftover_processes(mark: str) -> list[int]:
    """Live processes (not zombies) whose environment or command line mentions ``mark``."""
    return processes_mentioning(mark, in_environment=True)


# -- agents ------------------------------------------------------------------------------------------

SESSION = "bench-session"
INIT_LINE = json.dumps({"type": "system", "subtype": "init", "session_id": SESSION, "model": "bench-model"},
                       separators=(",", ":"))
TEXT_LINE = json.dumps({"type": "assistant", "message": {"role": "assistant", "content": [
    {"type": "text", "text": "ok"}]}, "session_id": SESSION}, separators=(",", ":"))
RESULT_LINE = json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "ok",
                          "session_id": SESSION, "usage": {"input_tokens": 1, "output_tokens": 1},
                          "total_cost_usd": 0}, separators=(",", ":"))
#: What the hub stores for one trivial agent: queued, started, 4 outputs (init, text, usage, result), finished.
TRIVIAL_EVENTS_PER_NODE = 7


#: The hub runs ``<executable> --version`` when a template is added (orchestra.availability): answer it
#: at once, or a hanging agent would sleep through the check for its 15 s timeout.
VERSION_CHECK = '#!/bin/sh\nif [ "$1" = --version ]; then echo "bench-agent 1.0"; exit 0; fi\n'


def write_trivial_agent(bin_dir: Path) -> Path:
    """A C-speed agent: dash printing a three-line claude-stream-json transcript (printf is built in)."""
    path = bin_dir / "trivial-agent"
    path.write_text(VERSION_CHECK + "printf '%s\\n' " + " ".join(f"'{line}'" for line in
                                                           (INIT_LINE, TEXT_LINE, RESULT_LINE)) + "\n")
    path.chmod(0o755)
    return path


def write_hang_agent(bin_dir: Path) -> Path:
    """Prints its init line, then sleeps (the process stays, its stdout open) until killed."""
    path = bin_dir / "hang-agent"
    path.write_text(f"{VERSION_CHECK}printf '%s\\n' '{INIT_LINE}'\nexec sleep 3600\n")
    path.chmod(0o755)
    return path


#: The stream agent: ``python -S stream-agent "agent=<i> lines=<n>"`` prints the init line, then n
#: assistant text lines "bench <i> <line> <time_ns>" as fast as it can (one write + flush each, as the
#: real CLIs print), then the result line. With ``rate=R`` it paces itself to R lines/s instead.
STREAM_AGENT = f'''
import sys, time
if sys.argv[1:] == ["--version"]:
    print("bench-agent 1.0")
    sys.exit(0)
args = dict(part.split("=", 1) for part in sys.argv[1].split() if "=" in part)
agent, lines, rate = args["agent"], int(args["lines"]), float(args.get("rate", 0))
out = sys.stdout.buffer
out.write({INIT_LINE!r}.encode() + b"\\n"); out.flush()
head = ('{{"type":"assistant","message":{{"role":"assistant","content":[{{"type":"text","text":"bench '
        + agent + ' ').encode()
tail = b'"}}]}},"session_id":"{SESSION}"}}\\n'
now = time.time_ns
start = now()
for i in range(1, lines + 1):
    if rate:
        ahead = start + i * 1e9 / rate - now()
        if ahead > 1e6:
            time.sleep(ahead / 1e9)
    out.write(head + b"%d %d" % (i, now()) + tail)
    out.flush()
out.write({RESULT_LINE!r}.encode() + b"\\n"); out.flush()
'''


def write_stream_agent(bin_dir: Path) -> Path:
    path = bin_dir / "stream-agent"
    path.write_text(f"#!{sys.executable} -S\n{STREAM_AGENT}")
    path.chmod(0o755)
    return path


# -- the hub as a subprocess -------------------------------------------------------------------------


def hub_env(work: Scratch, db_name: str = "orchestra.db", **extra: str) -> dict[str, str]:
    return hub_subprocess.hub_env(work.path, TOKEN, db_name=db_name, **{MARK_VAR: work.mark}, **extra)


@asynccontextmanager
async def run_hub(work: Scratch, env: dict[str, str], ready_within: float = 60,
                  profile_to: Path | None = None) -> AsyncIterator[HubProcess]:
    """``python orchestra.py`` until the block exits; then SIGTERM and a clean exit, or a failure.

    With ``profile_to`` (or ``ORCHESTRA_BENCH_PROFILE=<dir>``), py-spy samples the hub while it runs
    and writes collapsed stacks there (``py-spy`` must be installed; see docs/PERFORMANCE.md).
    """
    if profile_to is None and os.environ.get("ORCHESTRA_BENCH_PROFILE"):
        profile_to = Path(os.environ["ORCHESTRA_BENCH_PROFILE"])
    log_path = work.path / f"hub-{time.time_ns()}.log"
    try:
        async with hub_subprocess.hub_process(env, cwd=work.path, ready_within=ready_within, stop_within=30,
                                              log_path=log_path, http_timeout=120) as hub:
            profiler = await _start_profiler(hub, profile_to)
            try:
                yield hub
            finally:
                if profiler is not None:
                    with trio.CancelScope(shield=True):
                        profiler.send_signal(signal.SIGINT)
                        await profiler.wait()
    except HubDidNotStart as exc:
        raise BenchFailure(str(exc)) from None
    if hub.process.returncode != 0:
        raise BenchFailure(f"the hub did not stop cleanly on SIGTERM (exit {hub.process.returncode}); "
                           f"log: {log_path}")
    markers = (" ERROR ", " CRITICAL ", "level=error", "level=critical", "Traceback")
    errors = [line for line in hub.log.decode(errors="replace").splitlines() if any(m in line for m in markers)]
    if errors:
        raise BenchFailure(f"the hub logged errors ({log_path}): {errors[:3]}")


async def _start_profiler(hub: HubProcess, profile_to: Path | None) -> trio.Process | None:
    if profile_to is None:
        return None
    os.makedirs(profile_to, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = profile_to / f"hub-{hub.pid}.txt"
    argv = [spy, "record", "--pid", str(hub.pid), "--rate", "250", "--format", "raw", "--output", str(out),
            "--nonblocking", "--threads"] + (["--gil"] if os.environ.get("ORCHESTRA_BENCH_PROFILE_GIL") else [])
    if os.environ.get("ORCHESTRA_BENCH_PROFILE_IDLE"):
        argv.append("--idle")
    process = await trio.lowlevel.open_process(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await trio.sleep(0.5)  # let it attach
    return process


# -- REST helpers -----------------------------------------------------------------------------------


async def expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise BenchFailure(f"{response.request.method} {response.request.url} -> {response.status_code}: "
                           f"{response.text[:500]}")
    return response.json() if response.content else None


async def add_template(http: httpx.AsyncClient, template_id: str, command: list[str], mark: str) -> None:
    await expect(await http.post("/agent-templates", json={
        "id": template_id, "name": template_id, "command": command, "output": "claude-stream-json",
        "env": {MARK_VAR: mark}}), 201)


async def create_project(http: httpx.AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    return await expect(await http.post("/projects", json={"name": name, **fields}), 201)


async def create_nodes(http: httpx.AsyncClient, project_id: str, nodes: list[dict[str, Any]],
                       concurrency: int = 4) -> None:
    """POST the nodes in order; a node is only sent once everything it depends on exists."""
    created: set[str] = set()
    pending = list(nodes)
    ready = trio.Condition()

    async def worker() -> None:
        while pending:
            node = pending.pop(0)
            async with ready:
                while not all(up in created for up in node.get("depends_on", [])):
                    await ready.wait()
            await expect(await http.post(f"/projects/{project_id}/nodes", json=node), 201)
            async with ready:
                created.add(node["id"])
                ready.notify_all()

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)


# -- following a project's events --------------------------------------------------------------------


@dataclass
class Follower:
    """One WebSocket subscriber that checks ``seq`` is gap-free and remembers what it needs."""

    hub: HubProcess
    project_id: str
    last_seq: int = 0
    events: int = 0
    reconnects: int = 0
    keep: Callable[[dict[str, Any]], bool] | None = None
    kept: list[dict[str, Any]] = field(default_factory=list)

    async def snapshot(self, ws: Any) -> None:
        message = json.loads(await ws.get_message())
        if message.get("type") != "snapshot":
            raise BenchFailure(f"expected a snapshot first, got {str(message)[:200]}")
        self.last_seq = message["seq"]

    def take(self, message: str) -> list[dict[str, Any]]:
        decoded = json.loads(message)
        batch = decoded if isinstance(decoded, list) else [decoded]
        for event in batch:
            if event.get("type") == "heartbeat":
                continue
            if event["seq"] != self.last_seq + 1:
                raise BenchFailure(f"subscriber of {self.project_id} saw seq {event['seq']} after {self.last_seq}")
            self.last_seq = event["seq"]
            self.events += 1
            if self.keep is not None and self.keep(event):
                self.kept.append(event)
        return batch


async def follow_until(follower: Follower, done: Callable[[dict[str, Any]], bool],
                       ready: trio.Event | None = None, within: float = 600) -> dict[str, Any]:
    """Subscribe (snapshot first), set ``ready``, and read until an event satisfies ``done``.

    A 4008 close (too slow) is followed by a reconnect with ``since``, as the protocol says.
    """
    first = True
    with trio.fail_after(within):
        while True:
            url = follower.hub.ws_url(follower.project_id, None if first else follower.last_seq)
            try:
                async with open_websocket_url(url, max_message_size=64 * 1024 * 1024) as ws:
                    if first:
                        await follower.snapshot(ws)
                        first = False
                        if ready is not None:
                            ready.set()
                    while True:
                        for event in follower.take(await ws.get_message()):
                            if done(event):
                                return event
            except ConnectionClosed as closed:
                if closed.reason is not None and closed.reason.code == 4008:
                    follower.reconnects += 1
                    continue
                raise BenchFailure(f"subscriber of {follower.project_id} closed: {closed.reason}") from None
