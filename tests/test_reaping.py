"""The end of an execution with sandboxes about: a sandbox's init, orphaned to the hub but still in its
running agent's group, is not taken for an escapee; one that left its group still is."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestra.system.process import (
    _children,
    become_subreaper,
    forget_leader,
    orphans_possible,
    reap_orphaned_members,
    register_leader,
)

ADOPTION_TIMEOUT_S = 10.0


def _orphan(script: str) -> tuple[int, int]:
    """(the leader's pid, its background child's pid), the leader reaped and the child adopted by us."""
    leader = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              start_new_session=True)
    assert leader.stdout is not None
    child = int(leader.stdout.readline())
    leader.stdout.close()
    leader.wait()
    deadline = time.monotonic() + ADOPTION_TIMEOUT_S
    while child not in _children():  # reparenting to the subreaper: a kernel step, waited with a bound
        assert time.monotonic() < deadline, "the orphan was never adopted"
        os.sched_yield()
    return leader.pid, child


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def test_an_orphan_in_a_running_agents_group_is_no_escapee_but_one_that_left_it_is() -> None:
    """In a process of its own: the test runner's other children (browsers, hubs, a Ray cluster) would
    count as possible escapees."""
    here = Path(__file__).resolve().parent
    done = subprocess.run([sys.executable, "-c", "import test_reaping; test_reaping.check_reaping()"],
                          cwd=here, env=os.environ | {"PYTHONPATH": f"{here.parent}:{here}"},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def check_reaping() -> None:
    assert become_subreaper()
    leader, member = _orphan("sleep 30 & echo $!")  # like a sandbox's init after its bwrap exited
    register_leader(leader)
    try:
        assert os.getpgid(member) == leader
        assert not orphans_possible()
        _, escapee = _orphan("setsid sleep 30 & echo $!")  # left the group: still looked for
        try:
            assert orphans_possible()
        finally:
            _kill(escapee)
        assert reap_orphaned_members(leader)  # alive: the group is not over yet
        os.kill(member, signal.SIGKILL)
        deadline = time.monotonic() + ADOPTION_TIMEOUT_S
        while reap_orphaned_members(leader) or member in _children():  # reaped by it once dead
            assert time.monotonic() < deadline, "the group's orphan was never reaped"
            os.sched_yield()
    finally:
        forget_leader(leader)
        _kill(member)
