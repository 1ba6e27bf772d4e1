"""The demo agent inside the sandbox when the hub's checkout lies in a hidden path (found by the QA pass:
a fresh clone in /tmp or a home directory, the README's first command, then its walk-through: every demo
node failed with "No module named 'orchestra'", since /tmp, /home and /root are replaced by empty
directories for agents). The demo template names what it reads: its package, the venv, the stdlib."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra.agents.templates import DEMO_AGENT, DEMO_READABLE
from orchestra.core.settings import Settings
from orchestra.executors.sandbox import probe, refused_path
from orchestra.system.bwrap import SandboxSpec, sandboxed_argv

_CANNOT = probe()
pytestmark = pytest.mark.skipif(_CANNOT is not None, reason=f"bubblewrap cannot sandbox here: {_CANNOT}")
CHECKOUT = Path(__file__).resolve().parent.parent


def run_demo(tmp_path: Path, readable: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    # The checkout (with the venv the tests run from) hidden, as /tmp or /home hides a clone.
    spec = SandboxSpec(hidden=(str(CHECKOUT),), scratch=(), readable=readable)
    argv = sandboxed_argv([*DEMO_AGENT, "Write HELLO.md"], str(tmp_path), {"PATH": "/usr/bin:/bin"}, spec)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "DEMO_AGENT_SECONDS": "0"})


def test_the_demo_agent_runs_in_the_sandbox_from_a_hidden_checkout(tmp_path: Path) -> None:
    assert str(CHECKOUT) not in DEMO_READABLE  # never the checkout itself: it may hold the database
    done = run_demo(tmp_path, tuple(DEMO_READABLE))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["result"] == "Wrote HELLO.md (5 lines)."
    assert (tmp_path / "HELLO.md").exists()


def test_without_its_readable_paths_it_cannot_start(tmp_path: Path) -> None:
    """The bound above is real: the same sandbox without them is the failure the QA pass saw."""
    if Path(sys.prefix).resolve().is_relative_to(CHECKOUT) or Path(__file__).is_relative_to(CHECKOUT):
        done = run_demo(tmp_path, ())
        assert done.returncode != 0 and "orchestra" in done.stderr


def test_a_template_may_read_a_checkouts_code_beside_its_database_but_not_the_database(tmp_path: Path) -> None:
    """The README's recipe (a copy of the demo template with its readable paths) in a checkout that holds
    the database (the QA pass: 422 "'…/.venv' would expose the hub's state directory"): the venv and the
    package may be read; the checkout itself (it holds the database), the token and writing are refused."""
    settings = Settings(database_url=f"sqlite:///{CHECKOUT / 'orchestra-never-created.db'}",
                        workspaces=str(tmp_path / "workspaces"))
    assert refused_path(str(CHECKOUT / "orchestra"), settings) is None
    assert refused_path(sys.prefix, settings) is None
    assert "database" in (refused_path(str(CHECKOUT), settings) or "")
    assert "token" in (refused_path(str(settings.token_path), settings) or "")
    assert "state directory" in (refused_path(str(CHECKOUT / "orchestra"), settings, writable=True) or "")
    elsewhere = Settings(database_url=f"sqlite:///{tmp_path / 'state' / 'orchestra.db'}",
                         workspaces=str(tmp_path / "workspaces"))
    assert "state directory" in (refused_path(str(tmp_path / "state" / "sub"), elsewhere) or "")
