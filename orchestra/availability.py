"""Whether each agent template's executable is installed, and its ``--version``.

Checked at start and on demand, never per request: Gemini's ``--version`` alone takes ~1.6 s.
The check runs with a scratch HOME so a CLI's first-run files land there, not in the user's home.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from typing import Any

import trio

from .templates import agent_environment

VERSION_TIMEOUT_S = 15


async def check(template: dict[str, Any]) -> dict[str, Any]:
    program = template["command"][0]
    env = agent_environment(template.get("env", {}))
    path = await trio.to_thread.run_sync(shutil.which, program, 1, env.get("PATH"))
    report: dict[str, Any] = {"available": path is not None, "path": path, "version": None,
                              "checked_at": time.time(), "error": None}
    if path is None:
        report["error"] = f"{program}: executable not found on PATH ({env.get('PATH', '')})"
        return report
    with tempfile.TemporaryDirectory(prefix="orchestra-check-") as scratch:
        try:
            with trio.fail_after(VERSION_TIMEOUT_S):
                result = await trio.run_process(
                    [path, "--version"], env=env | {"HOME": scratch}, cwd=scratch, stdin=subprocess.DEVNULL,
                    capture_stdout=True, capture_stderr=True, check=False, start_new_session=True)
        except trio.TooSlowError:
            report["error"] = f"{program} --version did not answer within {VERSION_TIMEOUT_S} s"
            return report
        except OSError as exc:
            report |= {"available": False, "error": f"{program}: {exc.strerror or exc}"}
            return report
    output = (result.stdout or result.stderr).decode(errors="replace").strip().splitlines()
    report["version"] = output[0][:200] if output else None
    if result.returncode != 0:
        report["error"] = f"{program} --version exited with code {result.returncode}"
    return report
