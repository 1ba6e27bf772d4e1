"""The hub as a real subprocess (``python orchestra.py``, or any command that runs it, such as the
installed wrapper): the one way the tests and the benchmarks start, wait for and stop a hub.

Who uses it: tests/hubproc.py (trio tests that signal or kill a hub), tests/e2e/ui_support.py (the
browser tests, blocking code under Playwright's sync API), tests/test_deploy.py (the hub through the
wrapper install.sh writes) and benchmarks/harness.py.

Why it lives in benchmarks/: ``python -m benchmarks.run`` must run from the repository root with
nothing but the root on sys.path (no pytest, no tests/ on the path), and the tests already have the
root on theirs (pyproject: ``pythonpath = [".", "tests"]``), so both import ``benchmarks.hub_subprocess``
without any path manipulation. Keep it free of pytest and of anything under tests/. Its /proc reading
is in benchmarks/procfs.py, for the same reasons.

One policy, two front ends:

- the hub is ready when it logs ``orchestra listening on http://host:port`` (read from its output as it
  comes: no polling), which also gives the port when it was started on port 0;
- its stdout and stderr are one log;
- it is stopped with SIGTERM (the graceful stop systemd uses), then SIGKILL if it lingers.

:func:`hub_process` is the trio front end (an async context manager), :class:`BlockingHub` the
blocking one (start and stop, again and again, on the same settings).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio

from .procfs import rss_bytes

ROOT = Path(__file__).resolve().parents[1]
ENTRY = ROOT / "orchestra.py"
COMMAND = (sys.executable, str(ENTRY))
_LISTENING = re.compile(rb"orchestra listening on http://[^:]+:(\d+)")


class HubDidNotStart(RuntimeError):
    """The hub exited, or never said it was listening, before it was ready."""


def hub_env(root: Path, token: str, *, db_name: str = "orchestra.db", port: int = 0, **extra: str) -> dict[str, str]:
    """This process's environment without any ``ORCHESTRA_*`` setting of its own, and a hub whose
    database and workspaces are under ``root``, on loopback (port 0: any free one), with a 2 s kill
    grace; ``extra`` adds or overrides variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRA_")}
    env |= {
        "ORCHESTRA_DATABASE_URL": f"sqlite:///{root / db_name}",
        "ORCHESTRA_WORKSPACES": str(root / "workspaces"),
        "ORCHESTRA_HOST": "127.0.0.1",
        "ORCHESTRA_PORT": str(port),
        "ORCHESTRA_TOKEN": token,
        "ORCHESTRA_KILL_GRACE_S": "2",
        # Fake agents write records under ``root``, which a sandbox hides: on only where asked for.
        "ORCHESTRA_SANDBOX": os.environ.get("ORCHESTRA_TEST_SANDBOX", "off"),
    }
    return env | extra


def free_port() -> int:
    """A loopback port free right now (for a hub that must come back on the same port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_port(log: bytes | bytearray) -> int | None:
    """The port of the hub's "listening" line in its log so far, or None before that line."""
    match = _LISTENING.search(log)
    return int(match.group(1)) if match else None


def _token(env: Mapping[str, str] | None) -> str:
    return (os.environ if env is None else env).get("ORCHESTRA_TOKEN", "")


# -- trio ---------------------------------------------------------------------------------------------


@dataclass
class HubProcess:
    """A hub started by :func:`hub_process`; ``log`` keeps growing with its output while it runs."""

    process: trio.Process
    port: int
    token: str
    log: bytearray
    started_at: float  # time.perf_counter() just before the spawn
    ready_at: float  # time.perf_counter() when it said it was listening
    http_timeout: float = 30

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def ws_url(self, project_id: str, since: int | None = None) -> str:
        url = f"ws://127.0.0.1:{self.port}/ws/subscribe/{project_id}?token={self.token}"
        return url if since is None else f"{url}&since={since}"

    def http(self, timeout: float | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"},
                                 timeout=self.http_timeout if timeout is None else timeout)

    def rss(self) -> int:
        return rss_bytes(self.pid)


@asynccontextmanager
async def hub_process(env: Mapping[str, str] | None, *, command: Sequence[str] = COMMAND,
                      cwd: Path | None = None, ready_within: float = 30, stop_within: float = 15,
                      log_path: Path | None = None, http_timeout: float = 30) -> AsyncIterator[HubProcess]:
    """Start the hub, wait for its "listening" line, and stop it on the way out (SIGTERM; SIGKILL after
    ``stop_within`` s) unless the block already ended it; then write its log to ``log_path``, if given.

    The caller reads the exit status from ``hub.process.returncode`` afterwards. A hub that exits
    before listening raises :class:`HubDidNotStart` (with its log); one that takes longer than
    ``ready_within`` s, :class:`trio.TooSlowError`.
    """
    started = time.perf_counter()
    process = await trio.lowlevel.open_process(
        list(command), env=None if env is None else dict(env), cwd=None if cwd is None else str(cwd),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    log = bytearray()
    try:
        with trio.fail_after(ready_within):
            while (port := listening_port(log)) is None:
                chunk = await process.stdout.receive_some(65536)
                if not chunk:
                    raise HubDidNotStart(f"the hub exited before listening:\n{log.decode(errors='replace')}")
                log += chunk
        hub = HubProcess(process, port, _token(env), log, started, time.perf_counter(), http_timeout)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_drain, process.stdout, log)
            try:
                yield hub
            finally:
                with trio.CancelScope(shield=True):  # still draining: a hub that logs as it stops never blocks
                    await _stop(process, stop_within)
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await _stop(process, stop_within)
            if log_path is not None:
                await trio.Path(log_path).write_bytes(bytes(log))


async def _stop(process: trio.Process, within: float) -> None:
    if process.returncode is None:
        process.terminate()  # a graceful stop ends the hub's agents and checks too
        with trio.move_on_after(within):
            await process.wait()
    if process.returncode is None:
        process.kill()
    await process.wait()


async def _drain(stream: trio.abc.ReceiveStream, log: bytearray) -> None:
    while chunk := await stream.receive_some(65536):
        log += chunk


# -- blocking -----------------------------------------------------------------------------------------


class BlockingHub:
    """A hub for blocking code: :meth:`start` returns once it listens, :meth:`stop` ends it, and it can
    be started again on the same settings (so on the same port, when ``env`` fixes one). Its output is
    appended to ``log_path`` as it comes. ``env`` None: the hub inherits this process's environment."""

    def __init__(self, env: Mapping[str, str] | None, *, log_path: Path, command: Sequence[str] = COMMAND,
                 cwd: Path | None = None) -> None:
        self.env = None if env is None else dict(env)
        self.command = list(command)
        self.cwd = cwd
        self.log_path = log_path
        self.token = _token(env)
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._drainer: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_within: float = 30) -> None:
        assert self.process is None, "the hub is already running"
        process = self.process = subprocess.Popen(
            self.command, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        seen = bytearray()
        answered = threading.Event()  # the hub said it listens, or its output ended

        def drain() -> None:
            assert process.stdout is not None
            with process.stdout, self.log_path.open("ab") as log:
                while chunk := process.stdout.read1(65536):
                    log.write(chunk)
                    log.flush()
                    if not answered.is_set():
                        seen.extend(chunk)
                        if listening_port(seen) is not None:
                            answered.set()
            answered.set()

        self._drainer = threading.Thread(target=drain, name=f"hub-{process.pid}-output", daemon=True)
        self._drainer.start()
        if not answered.wait(ready_within):
            self.stop()
            raise HubDidNotStart(f"the hub did not listen within {ready_within} s:\n{self.log_tail()}")
        self.port = listening_port(seen)
        if self.port is None:
            status = self.stop()
            raise HubDidNotStart(f"the hub exited with {status} before listening:\n{self.log_tail()}")

    def stop(self, within: float = 20) -> int | None:
        """SIGTERM, then SIGKILL if it lingers past ``within`` s; the exit status (None: not running)."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=within)
            except subprocess.TimeoutExpired:
                process.kill()
        status = process.wait()
        if self._drainer is not None:
            self._drainer.join(timeout=5)  # its output ends with it (unless a child kept it open)
        return status

    def log_tail(self, chars: int = 5000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""
