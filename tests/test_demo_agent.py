"""The built-in ``demo`` agent (orchestra/agents/demo_agent.py) through a real hub: Claude's stream-json
read by the Claude parser (text, a tool call and its result, tokens, cost 0, a session id), a file
written in its git worktree, a repair turn that resumes its session and makes the check pass, and a plan
that grows the DAG. A copy of the template with ``DEMO_AGENT_SECONDS`` keeps the tests quick."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveHub
from test_git_checkpoints import git, git_project

from orchestra.agents.templates import DEMO_AGENT

NO_TODO = ["sh", "-c", "! grep -q TODO demo-notes.md"]


@pytest.fixture
async def quick_demo(hub: LiveHub) -> str:
    demo = (await hub.get("/agent-templates/demo")).json()
    assert demo["command"][:2] == [sys.executable, "-I"]  # runs as a script: the pyz has no importable package
    assert Path(demo["command"][2]).name == "demo_agent.py"
    quick = {k: demo[k] for k in ("command", "resume_command", "version_command", "output", "stdin_prompt")}
    response = await hub.post("/agent-templates", quick | {"id": "quick-demo", "name": "Quick demo",
                                                           "env": {"DEMO_AGENT_SECONDS": "0.1"}})
    assert response.status_code == 201, response.text
    return "quick-demo"


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["output"]["kind"] for e in events if e["type"] == "execution.output"]


async def test_the_demo_agent_runs_edits_its_worktree_and_is_repaired_by_a_check(
    hub: LiveHub, quick_demo: str
) -> None:
    project, repo = await git_project(hub)
    await hub.create_node(project["id"], id="notes", agent=quick_demo, prompt="Take notes on the todo app",
                          check=NO_TODO, max_repairs=1)
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded", run
    first, repair = run["executions"]
    assert first["status"] == "failed" and first["error"].startswith("check `sh -c")
    assert repair["status"] == "succeeded" and repair["parent_execution_id"] == first["id"]
    assert first["session_id"] and repair["session_id"] == first["session_id"]  # resumed
    assert first["cost_usd"] == 0 and first["input_tokens"] > 0 and first["output_tokens"] > 0
    assert first["result_text"] == "Wrote demo-notes.md (5 lines)."
    assert repair["result_text"] == "Fixed demo-notes.md: no TODO left."
    assert kinds(await hub.events(first["id"]))[:5] == ["system", "text", "tool_use", "tool_result", "text"]
    assert "- done: " in git(repo, "show", f"{repair['commit_sha']}:demo-notes.md")
    assert "- TODO: " in git(repo, "show", f"{first['commit_sha']}:demo-notes.md")


async def test_the_demo_agent_answers_a_plan_that_grows_the_dag(hub: LiveHub, quick_demo: str) -> None:
    project = await hub.create_project()
    await hub.create_node(project["id"], id="plan", kind="plan", agent=quick_demo, prompt="A todo app")
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded", run
    ran = sorted(e["node_id"] for e in run["executions"])
    assert ran == ["plan", "plan.build", "plan.design", "plan.test"]


async def test_the_builtin_demo_needs_no_cli(hub: LiveHub) -> None:
    project = await hub.create_project()
    await hub.create_node(project["id"], id="one", agent="demo", prompt="Write HELLO.md")
    run = await hub.wait_run(await hub.launch(project["id"]))
    (only,) = run["executions"]
    assert only["status"] == "succeeded" and only["agent"] == "demo", only
    assert only["result_text"] == "Wrote HELLO.md (5 lines)."


async def test_a_repair_in_a_shared_workspace_fixes_the_file_the_check_reads(hub: LiveHub, quick_demo: str) -> None:
    """In a plain (non-git) workspace, as in the README's walk-through, a plan's tasks leave DESIGN.md,
    BUILD.md and TESTS.md with a TODO beside demo-notes.md: the repair must still fix demo-notes.md."""
    project = await hub.create_project()
    await hub.create_node(project["id"], id="plan", kind="plan", agent=quick_demo, prompt="A todo app")
    await hub.create_node(project["id"], id="notes", agent=quick_demo, prompt="Take notes", check=NO_TODO,
                          max_repairs=1, depends_on=["plan"])
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded", run
    (repair,) = [e for e in run["executions"] if e["node_id"] == "notes" and e["parent_execution_id"]]
    assert repair["status"] == "succeeded", repair
    assert "demo-notes.md" in repair["result_text"], repair


def test_an_empty_demo_agent_seconds_means_the_default(tmp_path: Path) -> None:
    """A flow exported from another hub carries ``DEMO_AGENT_SECONDS = ""`` (env values are left out):
    applied on a hub without the template, the agent got "" and died on float('')."""
    done = subprocess.run([*DEMO_AGENT, "--resume", "s1", "Write X.md"],
                          env=os.environ | {"DEMO_AGENT_SECONDS": ""}, capture_output=True, text=True,
                          cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["result"] == "Wrote X.md (5 lines)."
