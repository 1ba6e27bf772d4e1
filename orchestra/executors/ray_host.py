"""The Ray actor that runs one execution on a worker machine (made a Ray actor by :mod:`.ray`).

One actor per execution, never restarted and its methods never retried (a re-run CLI would splice
its output onto the first one's). It starts a :mod:`keeper <orchestra.executors.keeper>`, which owns
the agent's process tree, and reads the agent's stdout and stderr itself: lines are split here and
handed to the hub in batches, as many as have arrived per :meth:`AgentHost.read` call. The hub asks
for the next batch only once it has stored the last one, and the buffer here is bounded, so an agent
that prints faster than the hub stores is held up by its own pipe, as it is locally.

Plain Python (no ray import): the class is importable on every worker that has orchestra-hub.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from orchestra.system.lines import Line, LineSplitter
from orchestra.system.process import DRAIN_AFTER_EXIT_S, STDERR_KEEP_BYTES, process_start_ticks, still_running
from orchestra.workspaces.git_checkpoints import GIT_TIMEOUT_S

BUFFER_MAX_BYTES = 4 * 1024 * 1024  # lines read but not yet taken by the hub; then the pipe fills up
POLL_S = 0.05
WATCH_S = 0.5
KEEPER_EXIT_S = 10.0  # how long the keeper may take on top of the grace period to report "gone"


def _git(cwd: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=GIT_TIMEOUT_S).stdout


def _why(exc: OSError | subprocess.CalledProcessError | subprocess.TimeoutExpired) -> str:
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"git did not finish within {GIT_TIMEOUT_S:g} s"
    if isinstance(exc, subprocess.CalledProcessError):
        return (exc.stderr or b"").decode(errors="replace").strip() or f"git exited with code {exc.returncode}"
    return exc.strerror or str(exc)


class AgentHost:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.lines: list[Line] = []
        self.buffered = 0
        self.stdout_done = False
        self.exit_code: int | None = None
        self.exited = threading.Event()
        self.gone = threading.Event()
        self.stderr_tail = bytearray()
        self.lock = threading.Lock()  # one end at a time
        self.started = False
        self.clone: Path | None = None  # the worker's own checkout of a git workspace
        self.lost: str | None = None  # the keeper ended the agent because the worker or raylet died
        # The keeper is started now, while the actor waits in the hub's pool of spares: a start then
        # costs one message to it, not a Python start-up.
        status_read, status_write = os.pipe()
        self.keeper = subprocess.Popen(
            [sys.executable, "-m", "orchestra.executors.keeper", "--status-fd", str(status_write)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(status_write,),
            start_new_session=True)  # a kill of this worker's group must not take the keeper along
        os.close(status_write)
        self.status = os.fdopen(status_read, "rb")
        self.keeper.wait()  # it forked the real keeper, which is no child of this worker, and exited

    def ready(self) -> bool:
        """Answers once the actor (and so its keeper) is up: for a caller that waits for a spare."""
        return True

    def start(self, spec: dict[str, Any], bundle: bytes | None) -> dict[str, Any]:
        """Have the keeper start the agent; say where it runs, or why it could not start. With a git
        ``bundle`` of the hub's worktree, the agent runs in a clone of it made here."""
        import ray  # on the worker, inside a running actor

        if bundle is not None:
            try:
                spec = self._clone(spec, bundle)
            except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                self._discard_clone()
                return {"error": f"could not check out the workspace on the Ray worker: {_why(exc)}"}
        assert self.keeper.stdin is not None
        self.keeper.stdin.write(json.dumps({
            "argv": spec["argv"], "cwd": spec["cwd"], "env": spec["env"], "execution_id": spec["execution_id"],
            "grace_s": spec["grace_s"], "sandbox": spec.get("sandbox"),  # applied by the keeper, at the worker's cwd
            "watch": [(pid, process_start_ticks(pid)) for pid in (os.getpid(), os.getppid())],  # worker, raylet
            "stdin": base64.b64encode(spec["stdin"]).decode() if spec["stdin"] is not None else None,
        }).encode() + b"\n")
        self.keeper.stdin.flush()
        status = self.status
        first = status.readline().decode(errors="replace").strip()
        if not first.startswith("started"):
            return {"error": first.removeprefix("error ") or "the keeper process exited before starting the agent"}
        self.started = True
        threading.Thread(target=self._follow_status, args=(status,), daemon=True).start()
        threading.Thread(target=self._outlive_no_raylet, args=(spec["grace_s"],), daemon=True).start()
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()
        return {"where": f"ray:{socket.gethostname()}/{ray.get_runtime_context().get_node_id()}"}

    def read(self, wait_s: float) -> dict[str, Any]:
        """The lines that have arrived (waiting up to ``wait_s`` for the first); ``done`` once the agent
        exited and its output is drained, with its exit code and the tail of its stderr."""
        with self.cond:
            self.cond.wait_for(lambda: self.lines or self._done(), timeout=wait_s)
            lines, self.lines, self.buffered = self.lines, [], 0
            self.cond.notify_all()
            done = self._done()
        reply: dict[str, Any] = {"lines": [(line.data, line.length) for line in lines], "done": done}
        if done:
            reply |= {"exit_code": self.exit_code, "stderr": bytes(self.stderr_tail), "lost": self.lost}
        return reply

    def changes(self) -> bytes:
        """What the agent changed in its clone, as a binary git patch against the base (empty: nothing);
        the clone is removed. Called once the tree is gone, so nothing writes there any more."""
        if self.clone is None:
            return b""
        try:
            _git(self.clone, "add", "-A")
            return _git(self.clone, "diff", "--cached", "--binary", "--no-color", "HEAD")
        finally:
            self._discard_clone()

    def _discard_clone(self) -> None:
        if self.clone is not None:
            shutil.rmtree(self.clone.parent, ignore_errors=True)
            self.clone = None

    def _clone(self, spec: dict[str, Any], bundle: bytes) -> dict[str, Any]:
        """The clone's path follows from the hub's worktree path: a follow-up turn, which re-creates its
        parent's worktree, gets the same path here too, and CLIs find their sessions by working directory."""
        name = hashlib.sha256(spec["cwd"].encode()).hexdigest()[:16]
        scratch = Path(tempfile.gettempdir()) / f"orchestra-{name}"
        shutil.rmtree(scratch, ignore_errors=True)  # a clone a lost worker left behind
        scratch.mkdir(mode=0o700)
        self.clone = scratch / "workspace"
        (scratch / "base.bundle").write_bytes(bundle)
        _git(scratch, "clone", "-q", "-c", "advice.detachedHead=false", "base.bundle", str(self.clone))
        hub_cwd, here = spec["cwd"], str(self.clone)  # {workspace} in argv names the hub's path
        return spec | {"cwd": here, "argv": [here if arg == hub_cwd else arg for arg in spec["argv"]]}

    def end(self, grace_s: float) -> None:
        """End the agent's whole tree (SIGTERM, grace, SIGKILL, escapees); returns once it is gone.
        Safe to call more than once."""
        with self.lock:
            keeper = self.keeper
            if keeper.stdin is not None and not keeper.stdin.closed:
                try:
                    keeper.stdin.write(f"end {grace_s}\n".encode())
                    keeper.stdin.close()
                except OSError:
                    pass
        if self.started:  # else the keeper started nothing, and ends on the closed stdin
            self.gone.wait(timeout=grace_s * 2 + KEEPER_EXIT_S)

    def _outlive_no_raylet(self, grace_s: float) -> None:
        """A worker whose raylet was killed lingers on, holding memory: once its keeper has ended the
        agent (it watches the raylet too), this worker ends itself."""
        raylet = os.getppid()
        ticks = process_start_ticks(raylet)
        while still_running(raylet, ticks):
            time.sleep(WATCH_S)
        if self.started:  # else the keeper started nothing, and ends on the closed stdin
            self.gone.wait(timeout=grace_s * 2 + KEEPER_EXIT_S)
        os._exit(1)

    def _done(self) -> bool:
        return self.stdout_done and self.exited.is_set() and not self.lines

    def _follow_status(self, status: Any) -> None:
        for raw in status:
            line = raw.decode(errors="replace").strip()
            if line.startswith("exited "):
                with self.cond:
                    self.exit_code = int(line.split()[1])
                    self.exited.set()
                    self.cond.notify_all()
            elif line.startswith("lost "):
                self.lost = line.removeprefix("lost ")
            elif line == "gone":
                self.gone.set()
        self.gone.set()
        with self.cond:
            self.exited.set()  # a keeper that died without a word: the agent's code is unknown
            self.cond.notify_all()

    def _pump_stdout(self) -> None:
        """Read until EOF, or until the pipe has been quiet for DRAIN_AFTER_EXIT_S after the agent
        exited (a grandchild may hold it open); waiting for the hub to take lines does not count."""
        assert self.keeper.stdout is not None
        fd = self.keeper.stdout.fileno()
        splitter = LineSplitter()
        quiet_since: float | None = None
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.buffered < BUFFER_MAX_BYTES)
            ready, _, _ = select.select([fd], [], [], POLL_S)
            if not ready:
                if self.exited.is_set():
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since >= DRAIN_AFTER_EXIT_S:
                        break
                continue
            quiet_since = None
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self._add(splitter.feed(chunk))
        self._add(splitter.finish())
        with self.cond:
            self.stdout_done = True
            self.cond.notify_all()

    def _add(self, lines: list[Line]) -> None:
        if not lines:
            return
        with self.cond:
            self.lines.extend(lines)
            self.buffered += sum(len(line.data) for line in lines)
            self.cond.notify_all()

    def _pump_stderr(self) -> None:
        assert self.keeper.stderr is not None
        fd = self.keeper.stderr.fileno()
        while chunk := os.read(fd, 65536):
            self.stderr_tail += chunk
            if len(self.stderr_tail) > STDERR_KEEP_BYTES:
                del self.stderr_tail[: len(self.stderr_tail) - STDERR_KEEP_BYTES]
