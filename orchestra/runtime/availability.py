"""Whether each agent template's executable is installed, and its ``--version``.

Checked at start and on demand, never per request: Gemini's ``--version`` alone takes ~1.6 s.
The check runs with a scratch HOME so a CLI's first-run files land there, not in the user's home.
It runs in a process group of its own, and however it ends (answered, timed out, cancelled because
the hub stops) that whole group is ended before the check returns: a CLI that forks on ``--version``
or never answers leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from typing import Any

import trio

from orchestra.agents.templates import agent_environment
from orchestra.core.rows import Template
from orchestra.system.process import run_command

VERSION_TIMEOUT_S: float = 15
# How long a check's process group gets between SIGTERM and SIGKILL.
GRACE_S = 1.0
# After the command itself exits, how long its output may still drain: a child it forked may hold the
# pipe open, and end of file would never come.
DRAIN_AFTER_EXIT_S = 1.0
VERSION_KEEP_BYTES = 64 * 1024


async def check(template: Template) -> dict[str, Any]:
    program = template["command"][0]
    env = agent_environment(template.get("env", {}))
    path = await trio.to_thread.run_sync(shutil.which, program, 1, env.get("PATH"))
    report: dict[str, Any] = {"available": path is not None, "path": path, "version": None,
                              "checked_at": time.time(), "error": None}
    if path is None:
        report["error"] = f"{program}: executable not found on PATH ({env.get('PATH', '')})"
        return report
    scratch = await trio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="orchestra-check-"))
    try:
        result = await run_command([path, "--version"], cwd=scratch, env=env | {"HOME": scratch},
                                   timeout_s=VERSION_TIMEOUT_S, grace_s=GRACE_S, drain_s=DRAIN_AFTER_EXIT_S,
                                   keep_bytes=VERSION_KEEP_BYTES)
    except trio.TooSlowError:
        return report | {"available": False,
                         "error": f"{program} --version did not answer within {VERSION_TIMEOUT_S:g} s"}
    except OSError as exc:
        return report | {"available": False, "error": f"{program}: {exc.strerror or exc}"}
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(shutil.rmtree, scratch, True)
    output = (result.stdout or result.stderr).decode(errors="replace").strip().splitlines()
    report["version"] = output[0][:200] if output else None
    if result.returncode != 0:
        report |= {"available": False, "error": f"{program} --version exited with code {result.returncode}"}
    return report
