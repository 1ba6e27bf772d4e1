"""The operating system's side of agent processes: process groups, the execution mark, the subreaper.

Agents run in their own session and process group (:mod:`orchestra.executors.local` spawns them);
:func:`end_group` ends a group (SIGTERM, grace, SIGKILL) and waits until no member is left.

Every agent carries ``ORCHESTRA_EXECUTION_ID=<id>`` in its environment from its first instruction,
and its descendants inherit it. That mark is how processes that left the agent's process group
(``setsid``, ``setpgid``) are found: the hub is a child subreaper (:func:`become_subreaper`), so an
orphaned descendant becomes the hub's child, and when an execution ends, the hub's children that
carry its mark are killed (:func:`end_escapees`). After a hub was killed, recovery scans the process
table for the marks of the executions it left unfinished (:func:`kill_marked`): no pid needs to
have been stored first. :func:`run_command` runs a short command (a CLI's ``--version``, git) the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import trio

log = logging.getLogger(__name__)

STDERR_KEEP_BYTES = 64 * 1024
# After the agent itself exits, how long its output may still drain before a grandchild that keeps
# the pipe open is ended (otherwise EOF would never come).
DRAIN_AFTER_EXIT_S = 2.0
GROUP_POLL_S = 0.02
EXECUTION_MARK = "ORCHESTRA_EXECUTION_ID"
_PR_SET_CHILD_SUBREAPER = 36
ADOPT_AFTER_S = 1.0


def spawn_error_message(exc: ValueError | OSError, executable: str, cwd: Path) -> str:
    """Why an agent could not be started, in words (shared with the Ray executor's keeper)."""
    if isinstance(exc, ValueError):  # a NUL byte in an argument or the environment
        return f"{executable}: cannot start: {exc}"
    if isinstance(exc, FileNotFoundError):
        if exc.filename and str(exc.filename) == str(cwd):
            return f"working directory {cwd} does not exist"
        return f"{executable}: executable not found on PATH"
    if isinstance(exc, PermissionError):
        return f"{executable}: permission denied (not executable?)"
    return f"{executable}: cannot start: {exc.strerror or exc}"


# -- process groups ---------------------------------------------------------------------------------


def signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return False


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    members = []
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == pgid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                members.append(pid)
        except (OSError, psutil.Error):  # gone meanwhile
            continue
    return members


def _state_and_start(pid: int) -> tuple[str, int] | None:
    """A process's state letter and start time in clock ticks since boot (/proc/PID/stat), or None
    when it is gone. Read by hand, not with psutil: every spawn reads it (a measured hot path, where
    psutil.Process(pid).create_time() costs ~27 µs against ~10 µs), and recovery compares it as stored."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            text = file.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()
    return fields[0].decode(), int(fields[19])


def still_running(pid: int, start_ticks: int | None) -> bool:
    """Whether the process that had ``start_ticks`` is alive: not gone, not a zombie, not a reused pid."""
    stat = _state_and_start(pid)
    return stat is not None and stat[0] != "Z" and stat[1] == start_ticks


def process_start_ticks(pid: int) -> int | None:
    """The start time a process is told from a later one with its pid by (see :func:`kill_orphan_group`)."""
    stat = _state_and_start(pid)
    return stat[1] if stat else None


async def group_alive(pgid: int) -> bool:
    """Whether any live process is left in the group; the common empty case costs one syscall. A
    member that is this process's own child (a sandbox's init, orphaned to the subreaper) is seen, or
    reaped once it exited, from this process's children alone: no scan of /proc."""
    if reap_orphaned_members(pgid):
        return True
    if not signal_group(pgid, 0):
        return False
    return bool(await trio.to_thread.run_sync(group_members, pgid))


async def end_group(process: trio.Process, grace_s: float, execution_id: str | None = None) -> None:
    """SIGTERM the group, give it ``grace_s``, SIGKILL what is left, wait until nothing is left;
    then end the execution's descendants that left the group."""
    pgid = process.pid
    if process.returncode is None or await group_alive(pgid):
        signal_group(pgid, signal.SIGTERM)
        with trio.move_on_after(grace_s):
            await process.wait()
            poll_s = 0.001  # a sandbox's init outlives its bwrap by about a millisecond: look again soon
            while await group_alive(pgid):
                await trio.sleep(poll_s)
                poll_s = min(poll_s * 2, GROUP_POLL_S)
        signal_group(pgid, signal.SIGKILL)
    await process.wait()
    with trio.move_on_after(grace_s):
        while await group_alive(pgid):
            signal_group(pgid, signal.SIGKILL)
            await trio.sleep(GROUP_POLL_S)
    reap_orphaned_members(pgid)
    _leaders.pids.discard(pgid)  # reaped by trio: from now on the pid may be anyone's
    if execution_id is not None and orphans_possible():
        escaped = await trio.to_thread.run_sync(end_escapees, execution_id)
        if escaped:
            log.warning("killed %d process(es) of execution %s that had left its process group", escaped,
                        execution_id)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            await stream.aclose()


def reap_orphaned_members(pgid: int) -> bool:
    """Wait for members of the group that were orphaned to this subreaper and exited: a sandbox's own
    init (orchestra.system.bwrap) outlives the bwrap that spawned it by a moment. Return whether one of
    them is still alive."""
    alive = False
    for pid in _children():
        try:
            if pid == pgid or os.getpgid(pid) != pgid:
                continue
            # one syscall both tells and reaps (no psutil.Process: this runs on the loop, polled at every end)
            reaped, _ = os.waitpid(pid, os.WNOHANG)
        except OSError:  # gone meanwhile (ESRCH), or reaped by someone else (ECHILD)
            continue
        if reaped == 0:
            alive = True
    return alive


def kill_orphan_group(pid: int, start_ticks: int | None) -> int:
    """End the process group a previous hub left behind; return how many processes were signalled.

    The leader is matched by PID *and* start time, so a reused PID is never killed. When the leader
    is gone, its group may live on in grandchildren: those still carry the session id = pid.
    Blocking: call from a worker thread.
    """
    leader = process_start_ticks(pid)
    if leader is not None and start_ticks is not None and leader != start_ticks:
        return 0  # the pid now belongs to another process
    members = group_members(pid)
    if leader is None:
        members = [m for m in members if _session_of(m) == pid]
    for member in members:
        try:
            os.kill(member, signal.SIGKILL)
        except OSError as exc:
            if exc.errno != errno.ESRCH:
                log.warning("could not kill orphan agent process %s: %s", member, exc)
    return len(members)


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


# -- descendants that left the process group ------------------------------------------------------


class _Leaders:
    """The agents the hub spawned and trio has not reaped yet: children of the hub that carry a mark
    but are not orphans, so a sweep must leave them to trio."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one sweep at a time
        self.pids: set[int] = set()
        # Orphans of running executions, seen alive; reaped once they exit. Only children older than
        # ADOPT_AFTER_S are adopted: an agent trio has just spawned may not be registered yet.
        self.adopted: set[int] = set()


_leaders = _Leaders()


def register_leader(pid: int) -> None:
    """An agent this process spawned and will reap itself: sweeps for escapees leave it alone."""
    _leaders.pids.add(pid)


def forget_leader(pid: int) -> None:
    """The agent was reaped: from now on its pid may be anyone's."""
    _leaders.pids.discard(pid)


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children (Linux PR_SET_CHILD_SUBREAPER), so that
    a process that left its agent's group is still found when the execution ends."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result: int = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        return result == 0
    except (OSError, AttributeError):
        return False


def _children() -> list[int]:
    """The hub's children. Orphans are adopted by the subreaper's main thread, so its list is enough
    (one small /proc read: cheap enough for the loop, where it spares most executions a thread hop).
    Not psutil's ``children()``: that scans every process (~2 ms against ~7 µs), at every execution's end."""
    pid = os.getpid()  # not cached at import: the Ray executor's keeper forks after importing this
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as file:
            return [int(pid) for pid in file.read().split()]
    except OSError:
        return []


def orphans_possible() -> bool:
    """Whether the hub has a child it did not spawn as an agent, outside every running agent's group:
    only then can an escapee be about. A sandbox's init (orchestra.system.bwrap) is orphaned to the
    hub but stays in its agent's group, which that agent's :func:`end_group` ends; counting it sent
    every execution's end through a thread and a scan of each child's environment while others ran."""
    for pid in _children():
        if pid in _leaders.pids:
            continue
        try:
            if os.getpgid(pid) in _leaders.pids:
                continue
        except OSError:  # gone meanwhile
            continue
        return True
    return False


def _mark_of(pid: int) -> str | None:
    """The execution id in a process's environment, if any (None for zombies and others' processes)."""
    try:
        return psutil.Process(pid).environ().get(EXECUTION_MARK)
    except (psutil.Error, OSError):
        return None


def end_escapees(execution_id: str) -> int:
    """Kill and reap the hub's adopted children that carry ``execution_id``'s mark, round after round
    (a killed escapee's own children become the hub's next); reap adopted orphans that have exited.
    Blocking: call from a worker thread."""
    killed = 0
    while True:
        with _leaders.lock:
            found = []
            for pid in _children():
                if pid in _leaders.pids:
                    continue
                mark = _mark_of(pid)
                if mark == execution_id:
                    found.append(pid)
                elif mark is not None and _age_s(pid) > ADOPT_AFTER_S:
                    _leaders.adopted.add(pid)
            for pid in found:
                _leaders.adopted.discard(pid)
                with contextlib.suppress(ProcessLookupError, ChildProcessError):
                    os.kill(pid, signal.SIGKILL)
        for pid in found:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.waitpid(pid, 0)
        killed += len(found)
        if not found:
            break
    with _leaders.lock:
        for pid in list(_leaders.adopted):
            if pid in _leaders.pids:
                _leaders.adopted.discard(pid)
                continue
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    _leaders.adopted.discard(pid)
            except ChildProcessError:
                _leaders.adopted.discard(pid)
    return killed


def _age_s(pid: int) -> float:
    try:
        return time.time() - psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


def kill_marked(execution_ids: set[str]) -> int:
    """After a hub was killed: SIGKILL every process carrying the mark of one of ``execution_ids``
    (they are orphans of init now). Blocking: call from a worker thread."""
    if not execution_ids:
        return 0
    killed = 0
    for pid in psutil.pids():
        if pid != os.getpid() and _mark_of(pid) in execution_ids:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


# -- short commands (a CLI's --version, git) ------------------------------------------------------


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: bytes
    stderr: bytes


async def run_command(argv: list[str], *, cwd: str, env: dict[str, str] | None, timeout_s: float,
                      grace_s: float, drain_s: float, keep_bytes: int | None = None) -> Completed:
    """Run a short command in a new session and process group, stdin /dev/null, capturing its output.

    Raises :class:`trio.TooSlowError` when it does not finish within ``timeout_s`` and ``OSError`` when
    it cannot start. Its output is read until end of file, or ``drain_s`` after the command exits.
    However this ends (returned, timed out, cancelled) the whole group is ended first: SIGTERM,
    ``grace_s``, SIGKILL, until no member is left (:func:`end_group`, shielded).
    """
    process = await trio.lowlevel.open_process(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
        start_new_session=True)
    stdout, stderr = bytearray(), bytearray()

    async def pump(stream: trio.abc.ReceiveStream | None, into: bytearray) -> None:
        assert stream is not None
        while chunk := await stream.receive_some(65536):
            if keep_bytes is None or len(into) < keep_bytes:
                into += chunk

    try:
        with trio.fail_after(timeout_s):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pump, process.stdout, stdout)
                nursery.start_soon(pump, process.stderr, stderr)
                await process.wait()
                nursery.cancel_scope.deadline = min(nursery.cancel_scope.deadline,
                                                    trio.current_time() + drain_s)
    finally:
        with trio.CancelScope(shield=True):
            await end_group(process, grace_s)
    assert process.returncode is not None
    return Completed(process.returncode, bytes(stdout), bytes(stderr))
