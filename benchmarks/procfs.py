"""What the tests and the benchmarks read about other processes, through psutil: state, command line,
environment, working directory, CPU time, resident memory, and the scans for processes left behind.

One module for both (the tests import it as ``benchmarks.procfs``; see benchmarks/hub_subprocess.py for
why shared helpers live in benchmarks/). It deliberately does not reuse the hub's own readers
(``orchestra.system.process``): they are part of what the tests check, so the tests watch processes
through code of their own.

Every reader returns an empty value (``None``, ``b""``, ``""``) for a process that is gone or unreadable:
a scan races with processes that exit while it runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import psutil

_GONE = (psutil.Error, OSError)


def pids() -> Iterator[int]:
    """Every process but this one."""
    own = os.getpid()
    return (pid for pid in psutil.pids() if pid != own)


def ids(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, process group, session) of a process; None when it is gone."""
    try:
        return psutil.Process(pid).ppid(), os.getpgid(pid), os.getsid(pid)
    except _GONE:
        return None


def state(pid: int) -> str | None:
    """psutil's status (``"running"``, ``"sleeping"``, ``"zombie"``, …), or None when the process is gone."""
    try:
        return psutil.Process(pid).status()
    except _GONE:
        return None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (exited but not yet waited for)."""
    return state(pid) not in (None, psutil.STATUS_ZOMBIE)


def cmdline(pid: int) -> bytes:
    """The command line, arguments separated by NUL bytes (as the kernel keeps it)."""
    try:
        return "\0".join(psutil.Process(pid).cmdline()).encode(errors="surrogateescape")
    except _GONE:
        return b""


def environ(pid: int) -> bytes:
    """The environment the process started with (``NAME=value`` entries separated by NUL bytes)."""
    try:
        variables = psutil.Process(pid).environ()
    except _GONE:
        return b""
    return "\0".join(f"{name}={value}" for name, value in variables.items()).encode(errors="surrogateescape")


def cwd(pid: int) -> str:
    try:
        return psutil.Process(pid).cwd()
    except _GONE:
        return ""


def wchan(pid: int) -> str | None:
    """Where in the kernel the process waits ("0" or "" where the kernel hides it); None when gone.
    (psutil has no reader for it: /proc/PID/wchan.)"""
    try:
        with open(f"/proc/{pid}/wchan") as file:
            return file.read().strip()
    except OSError:
        return None


def fd_targets(pid: int | None = None) -> list[str]:
    """The files the process (this one by default) has open, by path."""
    try:
        return [file.path for file in psutil.Process(pid).open_files()]
    except _GONE:
        return []


def live_processes(match: Callable[[int], bool]) -> list[int]:
    """Live (not zombie) processes other than this one for which ``match(pid)`` holds. ``match`` runs
    first, so a cheap test there spares reading the state of every other process."""
    return [pid for pid in pids() if match(pid) and alive(pid)]


def processes_mentioning(needle: str, *, in_environment: bool = False) -> list[int]:
    """Live processes other than this one whose command line (or, with ``in_environment``, also their
    environment) contains ``needle``. Blocking: a scan of every process."""
    raw = needle.encode()
    return live_processes(lambda pid: raw in cmdline(pid) or (in_environment and raw in environ(pid)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        raise ProcessLookupError(f"no process {pid}") from None
    return times.user + times.system


def rss_bytes(pid: int) -> int:
    """Resident memory of the process alone."""
    return int(psutil.Process(pid).memory_info().rss)
