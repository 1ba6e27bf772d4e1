"""What the tests and the benchmarks read about other processes from /proc: state, command line,
environment, working directory, CPU ticks, resident memory, and the scans for processes left behind.

One module for both (the tests import it as ``benchmarks.procfs``; see benchmarks/hub_subprocess.py for
why shared helpers live in benchmarks/). It deliberately does not reuse the hub's own reader
(``orchestra.process._read_stat``): that one is private, returns only the fields the hub needs, and is
part of what the tests check, so the tests watch processes through code of their own.

Every reader returns an empty value (``None``, ``b""``, ``""``) for a process that is gone or unreadable:
a scan races with processes that exit while it runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator


def pids() -> Iterator[int]:
    """Every process in /proc except this one."""
    own = os.getpid()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != own:
            yield int(entry.name)


def stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: ``[state, ppid, pgrp, session, …]``, so
    index ``i`` is field ``i + 3`` of proc(5) (utime is 11, stime 12); None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            text = file.read()
    except OSError:
        return None
    return text.rsplit(b")", 1)[1].decode().split()  # the name may hold ")" and spaces: split after the last


def state(pid: int | str) -> str | None:
    """The one-letter state (R, S, D, Z, T, …), or None when the process is gone."""
    fields = stat_fields(pid)
    return fields[0] if fields else None


def alive(pid: int | str) -> bool:
    """The process exists and is not a zombie (exited but not yet waited for)."""
    return state(pid) not in (None, "Z")


def _read(pid: int | str, name: str) -> bytes:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as file:
            return file.read()
    except OSError:
        return b""


def cmdline(pid: int | str) -> bytes:
    """The command line as the kernel keeps it (arguments separated by NUL bytes)."""
    return _read(pid, "cmdline")


def environ(pid: int | str) -> bytes:
    """The environment the process started with (``NAME=value`` entries separated by NUL bytes)."""
    return _read(pid, "environ")


def cwd(pid: int | str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def wchan(pid: int | str) -> str | None:
    """Where in the kernel the process waits ("0" or "" where the kernel hides it); None when gone."""
    try:
        with open(f"/proc/{pid}/wchan") as file:
            return file.read().strip()
    except OSError:
        return None


def fd_targets(pid: int | str = "self") -> list[str]:
    """What the process's open file descriptors point at (paths, ``pipe:[…]``, ``socket:[…]``)."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
    return targets


def live_processes(match: Callable[[int], bool]) -> list[int]:
    """Live (not zombie) processes other than this one for which ``match(pid)`` holds. ``match`` runs
    first, so a cheap test there spares reading the state of every other process."""
    return [pid for pid in pids() if match(pid) and alive(pid)]


def processes_mentioning(needle: str, *, in_environment: bool = False) -> list[int]:
    """Live processes other than this one whose command line (or, with ``in_environment``, also their
    environment) contains ``needle``. Blocking: a scan of /proc."""
    raw = needle.encode()
    return live_processes(lambda pid: raw in cmdline(pid) or (in_environment and raw in environ(pid)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(f"no process {pid}")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident memory (VmRSS) of the process alone."""
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for pid {pid}")
