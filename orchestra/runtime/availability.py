"""Whether each agent template can run: its executable resolved, and its version where one is asked.

Checked at start and on demand, never per request: Gemini's ``--version`` alone takes ~1.6 s.

A check has no side effects. A user's template is checked by resolving its executable (it exists, is
executable; the resolved path is reported); its version is asked only when the template declares a
``version_command``, because the template's own command may be a script that would do its real work
given ``--version`` (or fail on a flag it does not know, though it runs fine). The built-in templates
declare theirs (the CLIs' ``--version``; the demo agent's).

A version command runs with a scratch HOME so a CLI's first-run files land there, not in the user's
home, in a process group of its own, and however it ends (answered, timed out, cancelled because the hub
stops) that whole group is ended before the check returns. Its processes carry a mark
(:func:`check_mark`, in the same variable as an agent's execution id) so that a hub killed while a check
ran ends that check's leftovers at its next start (:func:`sweep_leftover_checks`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from typing import Any

import trio

from orchestra.agents.templates import agent_environment
from orchestra.core.rows import Template
from orchestra.system.process import EXECUTION_MARK, kill_marked, run_command

VERSION_TIMEOUT_S: float = 15
# How long a check's process group gets between SIGTERM and SIGKILL.
GRACE_S = 1.0
# After the command itself exits, how long its output may still drain: a child it forked may hold the
# pipe open, and end of file would never come.
DRAIN_AFTER_EXIT_S = 1.0
VERSION_KEEP_BYTES = 64 * 1024


def check_mark(database: str) -> str:
    """The mark of one hub's availability checks: the same for every start of a hub on this database,
    different for another hub on the same machine (whose running checks must be left alone)."""
    return "availability-check:" + hashlib.sha256(os.path.abspath(database).encode()).hexdigest()[:16]


async def sweep_leftover_checks(mark: str) -> int:
    """End the checks a previous hub on this database left running when it was killed."""
    return await trio.to_thread.run_sync(kill_marked, {mark})


def resolve(program: str, path_variable: str | None) -> tuple[str | None, str | None]:
    """The executable as found on PATH (not its symlinks' target: a venv's python must stay the venv's), or
    why there is none. Blocking (file system): call from a thread."""
    found = shutil.which(program, os.F_OK | os.X_OK, path_variable)
    if found is not None:
        return found, None
    if "/" in program:
        if not os.path.exists(program):
            return None, f"{program}: no such file"
        return None, f"{program}: not an executable file"
    return None, f"{program}: executable not found on PATH ({path_variable or ''})"


async def check(template: Template, mark: str = "availability-check") -> dict[str, Any]:
    program = template["command"][0]
    env = agent_environment(template.get("env", {}))
    path, error = await trio.to_thread.run_sync(resolve, program, env.get("PATH"))
    resolved = await trio.to_thread.run_sync(os.path.realpath, path) if path else None
    report: dict[str, Any] = {"available": path is not None, "path": path, "resolved_path": resolved,
                              "version": None, "checked_at": time.time(), "error": error}
    version_command = template.get("version_command")
    if path is None or not version_command:
        return report
    executable: str | None = path
    if version_command[0] != program:
        executable, error = await trio.to_thread.run_sync(resolve, version_command[0], env.get("PATH"))
    if executable is None:
        return report | {"available": False, "error": error}
    shown = " ".join(version_command[1:]) or "its version command"
    scratch = await trio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="orchestra-check-"))
    try:
        result = await run_command([executable, *version_command[1:]], cwd=scratch,
                                   env=env | {"HOME": scratch, EXECUTION_MARK: mark},
                                   timeout_s=VERSION_TIMEOUT_S, grace_s=GRACE_S, drain_s=DRAIN_AFTER_EXIT_S,
                                   keep_bytes=VERSION_KEEP_BYTES)
    except trio.TooSlowError:
        return report | {"available": False,
                         "error": f"{program} {shown} did not answer within {VERSION_TIMEOUT_S:g} s"}
    except OSError as exc:
        return report | {"available": False, "error": f"{program}: {exc.strerror or exc}"}
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(shutil.rmtree, scratch, True)
    output = (result.stdout or result.stderr).decode(errors="replace").strip().splitlines()
    report["version"] = output[0][:200] if output else None
    if result.returncode != 0:
        report |= {"available": False, "error": f"{program} {shown} exited with code {result.returncode}"}
    return report
