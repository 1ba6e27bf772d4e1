"""Every agent in a bubblewrap sandbox, on a real hub with real subprocesses: a hostile script agent
tries to reach what is not its own (the token, the database, another project, the hub's process, its
API, other CLIs' keys) and fails with the sandbox on -- and succeeds with ORCHESTRA_SANDBOX=off, so
the test can fail. Its own work is still committed; a cancelled or killed sandbox leaves no process;
templates that would mount the hub's state are refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import TOKEN, FakeAgents, LiveHub, make_settings, serving
from hubproc import hub_env, hub_process, wait_for_event

from orchestra.system import bwrap
from orchestra.system.process import EXECUTION_MARK

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None or bwrap.probe() is not None,
                                reason=f"bubblewrap cannot sandbox here: {bwrap.probe()}")

OTHER_KEY = "sk-openai-not-for-this-agent"

HOSTILE_AGENT = Path(__file__).with_name("hostile_agent.py")

ATTEMPTS = {"read_token", "read_database", "list_other_project", "write_other_project", "write_outside",
            "signal_hub", "read_other_key", "api_with_found_token"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


@asynccontextmanager
async def hub_with_token_file(tmp_path: Path, agents: FakeAgents, sandbox: str) -> AsyncIterator[LiveHub]:
    """A hub whose token lives in its file beside the database (no ORCHESTRA_TOKEN), as in production."""
    settings = make_settings(tmp_path, agents, sandbox=sandbox, token=None)
    settings.token_path.write_text(TOKEN + "\n")
    settings.token_path.chmod(0o600)
    async with serving(settings) as live:
        yield live


@pytest.fixture
async def sandboxed(tmp_path: Path, agents: FakeAgents, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveHub]:
    monkeypatch.setenv("OPENAI_API_KEY", OTHER_KEY)  # in the hub's environment: another CLI's key
    async with hub_with_token_file(tmp_path, agents, "bwrap") as live:
        yield live


@pytest.fixture
async def unsandboxed(tmp_path: Path, agents: FakeAgents, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveHub]:
    monkeypatch.setenv("OPENAI_API_KEY", OTHER_KEY)
    async with hub_with_token_file(tmp_path, agents, "off") as live:
        yield live


async def add_template(hub: LiveHub, template_id: str, script: Path, **fields: Any) -> None:
    response = await hub.post("/agent-templates", {"id": template_id, "name": template_id, "output": "text",
                                                   "command": [sys.executable, str(script), "{prompt}"]} | fields)
    assert response.status_code == 201, response.text


async def hostile_run(hub: LiveHub, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any], Path, Path]:
    """A git project with a hostile node (a claude-like template: ANTHROPIC_* only) beside another
    project; the hostile execution, what each attempt got, its repository and the other workspace."""
    await add_template(hub, "hostile", HOSTILE_AGENT, env_passthrough=["ANTHROPIC_*"])
    other = await hub.create_project(name="other")
    other_ws = Path(other["workspace"])
    (other_ws / "secret.txt").write_text("another project's code\n")
    project = await hub.create_project(name="hostile", workspace="repo")
    repo = Path(project["workspace"])
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("base\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "base")
    settings = hub.settings
    targets = {"token_file": str(settings.token_path), "database": str(settings.database_path),
               "other_workspace": str(other_ws), "outside": str(tmp_path / "outside.txt"),
               "hub_pid": os.getpid(), "hub_url": hub.url}
    await hub.create_node(project["id"], id="evil", agent="hostile", prompt=json.dumps(targets))
    run = await hub.wait_run(await hub.launch(project["id"]))
    (execution,) = run["executions"]
    execution = (await hub.get(f"/executions/{execution['id']}")).json()
    attempts = json.loads(execution["result_text"])
    assert set(attempts) == ATTEMPTS, execution
    return execution, attempts, repo, other_ws


async def test_a_hostile_agent_reaches_nothing_of_the_hub_but_its_work_is_committed(
        sandboxed: LiveHub, tmp_path: Path) -> None:
    hub = sandboxed
    token_before = hub.settings.token_path.read_bytes()
    execution, attempts, repo, other_ws = await hostile_run(hub, tmp_path)

    assert execution["status"] == "succeeded", execution
    assert execution["sandbox"] == "bwrap"
    assert {name for name, result in attempts.items() if result["ok"]} == set(), attempts
    assert "401" in attempts["api_with_found_token"]["detail"]  # the hub's port answers, without a token
    # Nothing of the hub changed; the agent's own work is on its branch.
    assert hub.settings.token_path.read_bytes() == token_before
    assert sorted(p.name for p in other_ws.iterdir()) == ["secret.txt"]
    assert not (tmp_path / "outside.txt").exists()
    assert (await hub.get("/projects")).status_code == 200
    assert git(repo, "show", f"{execution['branch']}:work.txt") == "the agent's own work\n"


async def test_with_the_sandbox_off_the_same_attempts_succeed(unsandboxed: LiveHub, tmp_path: Path) -> None:
    execution, attempts, _repo, other_ws = await hostile_run(unsandboxed, tmp_path)

    assert execution["status"] == "succeeded", execution
    assert execution["sandbox"] == "off: ORCHESTRA_SANDBOX=off"
    assert {name for name, result in attempts.items() if not result["ok"]} == set(), attempts
    assert OTHER_KEY in attempts["read_other_key"]["detail"]
    assert (other_ws / "pwned.txt").exists() and (tmp_path / "outside.txt").exists()


async def test_health_says_how_agents_are_sandboxed(sandboxed: LiveHub) -> None:
    assert (await sandboxed.http.get("/health", headers={"Authorization": ""})).json()["sandbox"] == "bwrap"


async def test_health_says_when_agents_run_without_a_sandbox(unsandboxed: LiveHub) -> None:
    health = (await unsandboxed.http.get("/health", headers={"Authorization": ""})).json()
    assert health["sandbox"] == "off: ORCHESTRA_SANDBOX=off"
