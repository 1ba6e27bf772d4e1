"""The keeper: owns one agent's process tree on a Ray worker machine (``python -m orchestra.executors.keeper``).

Ray kills an actor's worker process (``ray.cancel``, ``ray.kill``, a dead driver) and that worker's
direct children, without touching its grandchildren. So the actor does not own the agent: it starts
this keeper, which forks away from it (no longer its child) into a session of its own and applies the
local rules on the worker side: it is a child subreaper, starts the agent in a new session and process
group with the ``ORCHESTRA_EXECUTION_ID`` mark, and ends the group (SIGTERM, grace, SIGKILL) and every
marked escapee when told to (``end``) or when its lifeline, its stdin, closes because the actor is gone.
Nothing outlives it.

The actor starts its keeper before it has an execution (it waits in the hub's pool of spares).
Protocol. stdin: one JSON line (the spec), then ``end`` lines; EOF is ``end``, and so is the end of a
process the spec names in ``watch`` (the actor's worker and its raylet). The agent inherits the
keeper's stdout and stderr (the actor reads them directly). Status lines on ``--status-fd``:
``started <pid>``, ``error <message>``, ``lost <reason>`` (a watched process died: the agent's
ending is not its own), ``exited <code>`` and, last, ``gone``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from orchestra.executors.ray_host import WATCH_S
from orchestra.system.bwrap import SandboxSpec, sandboxed_argv
from orchestra.system.process import (
    EXECUTION_MARK,
    GROUP_POLL_S,
    become_subreaper,
    end_escapees,
    forget_leader,
    group_members,
    reap_orphaned_members,
    register_leader,
    signal_group,
    spawn_error_message,
    still_running,
)


def end_tree(pgid: int, grace_s: float, execution_id: str) -> None:
    """SIGTERM the group, wait up to ``grace_s`` for it to empty, SIGKILL what is left until nothing is;
    then kill the marked processes that left the group (they are this subreaper's children by now)."""
    if signal_group(pgid, signal.SIGTERM):
        deadline = time.monotonic() + grace_s
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(GROUP_POLL_S)
    while group_members(pgid):
        signal_group(pgid, signal.SIGKILL)
        time.sleep(GROUP_POLL_S)
    reap_orphaned_members(pgid)
    end_escapees(execution_id)


def _feed(stream: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(OSError):
        stream.write(data)
        stream.close()


class _Ending:
    """Why and how the tree is to be ended: the first of the actor's ``end``, its lifeline's EOF, a
    watched process's death, or a SIGTERM to the keeper."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.now = threading.Event()

    def follow_lifeline(self, lifeline: IO[bytes]) -> None:
        for line in lifeline:  # until the actor says "end <grace>" or is gone (EOF)
            if line.startswith(b"end"):
                with contextlib.suppress(ValueError, IndexError):
                    self.grace_s = float(line.split()[1])
                break
        self.now.set()

    def watch(self, processes: list[tuple[int, int | None]], status: IO[str]) -> None:
        """A raylet killed under its workers leaves them running, and the lifeline open: when the
        actor's worker or its raylet is gone (or a zombie), end the agent as on EOF."""
        while all(still_running(pid, ticks) for pid, ticks in processes) and not self.now.is_set():
            time.sleep(WATCH_S)
        if not self.now.is_set():
            status.write("lost the Ray worker or its raylet died under the agent\n")  # before the agent's end
            self.now.set()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--status-fd", type=int, required=True)
    status_fd = parser.parse_args().status_fd
    # Ray kills a worker's direct children when the worker exits: the keeper must not be one of them.
    if os.fork() > 0:
        os._exit(0)
    status = os.fdopen(status_fd, "w", buffering=1)
    lifeline = sys.stdin.buffer
    first = lifeline.readline()
    if not first.startswith(b"{"):
        return 0  # a spare whose actor was ended before it got an execution
    spec: dict[str, Any] = json.loads(first)
    become_subreaper()
    stdin = base64.b64decode(spec["stdin"]) if spec.get("stdin") is not None else None
    try:
        argv = spec["argv"] if not spec.get("sandbox") else sandboxed_argv(
            spec["argv"], spec["cwd"], spec["env"], SandboxSpec.from_json(spec["sandbox"]),
            die_with_parent=True)  # forked from the keeper's main thread, which outlives the agent
        agent = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE, cwd=spec["cwd"],
            env=spec["env"] | {EXECUTION_MARK: spec["execution_id"]}, start_new_session=True)
    except (ValueError, OSError) as exc:
        status.write("error " + spawn_error_message(exc, spec["argv"][0], Path(spec["cwd"])).replace("\n", " ") + "\n")
        return 0
    register_leader(agent.pid)
    # The agent holds the pipes to the actor now: EOF there must mean the agent's tree closed them.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)
    os.dup2(null, 2)
    status.write(f"started {agent.pid}\n")
    if stdin is not None and agent.stdin is not None:
        threading.Thread(target=_feed, args=(agent.stdin, stdin), daemon=True).start()

    def report_exit() -> None:
        code = agent.wait()
        forget_leader(agent.pid)
        status.write(f"exited {code}\n")

    threading.Thread(target=report_exit, daemon=True).start()
    ending = _Ending(float(spec["grace_s"]))
    signal.signal(signal.SIGTERM, lambda signum, frame: ending.now.set())  # ending the keeper ends its agent
    threading.Thread(target=ending.follow_lifeline, args=(lifeline,), daemon=True).start()
    threading.Thread(target=ending.watch, args=([tuple(pair) for pair in spec["watch"]], status), daemon=True).start()
    while not ending.now.wait(WATCH_S):  # a timed wait: the SIGTERM handler runs in this thread
        pass
    end_tree(agent.pid, ending.grace_s, spec["execution_id"])
    status.write("gone\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
