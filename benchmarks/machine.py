"""What the numbers were measured on, and how busy the machine was with other work meanwhile."""

from __future__ import annotations

import os
import platform
import resource
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import trio

from .hub_subprocess import ROOT


def describe() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    packages = {}
    for name in ("trio", "quart-trio", "quart", "hypercorn", "sqlite-utils", "pydantic", "wsproto"):
        try:
            packages[name] = version(name)
        except Exception:
            packages[name] = None
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": packages,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "worktree_dirty": bool(_git("status", "--porcelain", "--", "orchestra")),
        "loadavg_at_start": os.getloadavg(),
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as file:
        fields = [int(v) for v in file.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def _own_cpu_s() -> float:
    """CPU of this process and of every descendant already waited for (hubs, and agents the hubs reaped)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Meter:
    """Machine CPU used by others while a scenario ran (a measure of how much to trust its figures)."""

    busy0: int = 0
    own0: float = 0.0
    t0: float = 0.0

    def start(self) -> None:
        self.busy0, _ = _cpu_jiffies()
        self.own0 = _own_cpu_s()
        self.t0 = time.monotonic()

    def stop(self) -> dict[str, float]:
        busy, _ = _cpu_jiffies()
        wall = time.monotonic() - self.t0
        busy_s = (busy - self.busy0) / os.sysconf("SC_CLK_TCK")
        own_s = _own_cpu_s() - self.own0
        return {"wall_s": wall, "own_cpu_cores": own_s / wall if wall else 0.0,
                "other_cpu_cores": max(0.0, busy_s - own_s) / wall if wall else 0.0}


async def wait_for_quiet(max_wait_s: float, busy_below: float = 0.25) -> dict[str, float]:
    """Wait (at most ``max_wait_s``) for a one-second window in which the machine is almost idle.

    ``busy_below`` is in cores. Other people's test suites on a shared 2-core machine otherwise
    decide the figures. Returns how long it waited and the last window's busy cores.
    """
    started = time.monotonic()
    busy_cores = float("nan")
    tick = os.sysconf("SC_CLK_TCK")
    while True:
        busy0, _ = _cpu_jiffies()
        await trio.sleep(1)
        busy1, _ = _cpu_jiffies()
        busy_cores = (busy1 - busy0) / tick
        waited = time.monotonic() - started
        if busy_cores < busy_below or waited >= max_wait_s:
            return {"waited_s": waited, "busy_cores_before": busy_cores}
