"""Checks and repair turns, on real git repositories with the fake agent: a node's check runs after its
agent in the execution's worktree; a failing check continues the agent's own session with the check's
output, up to ``max_repairs`` times; the node succeeds only when its check passes."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from conftest import FakeAgents, LiveHub
from test_git_checkpoints import git, git_project

# Exits 0 once status.txt says "fixed"; otherwise prints what it found and, built at run time so that
# only the check's *output* carries it, the fake agent's directive that fixes it.
FIX_ON_REPAIR = ("import pathlib, sys; t = pathlib.Path('status.txt').read_text().strip(); "
                 "print('status is ' + t); print('to fix: @' + 'write=status.txt:fixed'); "
                 "sys.exit(0 if t == 'fixed' else 1)")
ALWAYS_FAILS = "import sys; print('tests: 3 failed'); sys.exit(1)"


def check(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def of_type(events: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_]


async def test_a_check_that_fails_once_passes_after_one_repair_turn_in_the_same_session(
    hub: LiveHub, agents: FakeAgents
) -> None:
    project, repo = await git_project(hub)
    pid = project["id"]
    await hub.create_node(pid, id="a", prompt="@write=status.txt:broken", check=check(FIX_ON_REPAIR), max_repairs=1)
    await hub.create_node(pid, id="b", prompt="build on it", depends_on=["a"])
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "succeeded", run
    first, repair = [e for e in run["executions"] if e["node_id"] == "a"]
    (below,) = [e for e in run["executions"] if e["node_id"] == "b"]

    assert first["status"] == "failed"
    assert first["error"] == f"check `{shlex.join(check(FIX_ON_REPAIR))}` failed with exit code 1"
    assert repair["status"] == "succeeded" and repair["parent_execution_id"] == first["id"]
    assert repair["attempt"] == 1  # a repair continues the attempt, it is no retry
    assert "failed with exit code 1" in repair["prompt"] and "status is broken" in repair["prompt"]
    assert "(repair 1 of 1)" in repair["prompt"]

    # the repair continued the agent's own session, in the same working directory
    record = next(r for r in agents.recorded() if r["prompt"] == repair["prompt"])
    assert record["argv"][record["argv"].index("--resume") + 1] == first["session_id"]
    assert repair["session_id"] == first["session_id"]
    assert repair["workspace"] == first["workspace"] and record["cwd"] == first["workspace"]
    assert record["files"]["status.txt"] == "broken\n"  # it starts from the work it repairs

    first_checks = await hub.events(first["id"])
    started, = of_type(first_checks, "check.started")
    finished, = of_type(first_checks, "check.finished")
    assert started["check"] == {"argv": check(FIX_ON_REPAIR)}
    assert started["seq"] < finished["seq"]
    assert finished["check"]["exit_code"] == 1 and finished["check"]["passed"] is False
    assert finished["check"]["output"].startswith("status is broken\n")
    passed, = of_type(await hub.events(repair["id"]), "check.finished")
    assert passed["check"]["exit_code"] == 0 and passed["check"]["passed"] is True
    assert passed["check"]["output"].startswith("status is fixed\n")

    # downstream builds on the repaired commit, which the node's branch now holds
    assert repair["base_commit"] == first["commit_sha"]
    assert below["base_commit"] == repair["commit_sha"]
    assert git(repo, "show", f"{repair['commit_sha']}:status.txt") == "fixed\n"
    assert git(repo, "rev-parse", f"orchestra/{run['id']}/a").strip() == repair["commit_sha"]
    assert git(repo, "worktree", "list").count("\n") == 1


async def test_a_check_that_never_passes_fails_the_node_after_max_repairs(hub: LiveHub) -> None:
    project = await hub.create_project()  # a plain directory: the check runs in the workspace itself
    pid = project["id"]
    await hub.create_node(pid, id="a", check=check(ALWAYS_FAILS), max_repairs=2)
    await hub.create_node(pid, id="b", depends_on=["a"])
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "failed"
    turns = [e for e in run["executions"] if e["node_id"] == "a"]
    assert [e["status"] for e in turns] == ["failed", "failed", "failed"]
    assert [e["parent_execution_id"] for e in turns] == [None, turns[0]["id"], turns[1]["id"]]
    assert "(repair 2 of 2)" in turns[2]["prompt"] and "tests: 3 failed" in turns[2]["prompt"]
    assert all(e["workspace"] == project["workspace"] for e in turns)
    for turn in turns:
        finished, = of_type(await hub.events(turn["id"]), "check.finished")
        assert finished["check"]["output"] == "tests: 3 failed\n"
    (below,) = [e for e in run["executions"] if e["node_id"] == "b"]
    assert below["status"] == "skipped"


async def test_a_check_that_cannot_start_fails_the_node_without_repairs(hub: LiveHub) -> None:
    project, _ = await git_project(hub)
    await hub.create_node(project["id"], id="a", check=["no-such-check-command", "-q"], max_repairs=3)
    run = await hub.wait_run(await hub.launch(project["id"]))
    (only,) = run["executions"]
    assert only["status"] == "failed"
    assert only["error"] == ("check `no-such-check-command -q`: cannot start: no-such-check-command: "
                             "executable not found on PATH")
    finished, = of_type(await hub.events(only["id"]), "check.finished")
    assert finished["check"]["exit_code"] is None and finished["check"]["error"].startswith("cannot start")


async def test_a_check_over_its_timeout_is_ended_with_its_children(hub: LiveHub, tmp_path: Path) -> None:
    script = tmp_path / "slow_check.py"  # named by its path: the leftover-process check finds it
    script.write_text("import subprocess, sys, time\n"
                      "if sys.argv[1:] != ['child']:\n"
                      "    subprocess.Popen([sys.executable, sys.argv[0], 'child'])\n"
                      "print('collecting tests', flush=True)\n"
                      "time.sleep(3600)\n")
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", check=[sys.executable, str(script)], check_timeout_s=1,
                          max_repairs=1)
    run = await hub.wait_run(await hub.launch(project["id"]))
    first, repair = run["executions"]
    assert first["error"] == f"check `{sys.executable} {script}`: did not finish within 1 s; it was stopped"
    assert "collecting tests" in repair["prompt"]  # a hanging check is repairable: the agent may fix it
    assert repair["status"] == "failed"


async def test_repairs_stop_once_the_node_budget_is_spent(hub: LiveHub) -> None:
    project = await hub.create_project()
    # one turn of the fake claude costs $0.00051: the first fits the budget, the first two do not
    await hub.create_node(project["id"], id="a", check=check(ALWAYS_FAILS), max_repairs=3,
                          budget={"cost_usd": 0.0008})
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert [e["status"] for e in run["executions"]] == ["failed", "failed"]
    assert run["totals"]["cost_usd"] == 0.00102  # both turns count in the run


async def test_repairs_need_a_cli_that_can_continue_its_session(hub: LiveHub) -> None:
    response = await hub.post("/agent-templates", {
        "id": "plain", "name": "Plain", "command": [str(hub.settings.claude_bin), "{prompt}"], "output": "text"})
    assert response.status_code == 201
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", agent="plain", check=check(ALWAYS_FAILS), max_repairs=1)
    refused = await hub.post("/launch", {"project_id": project["id"]})
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == ("node 'a' allows repairs, but agent template 'plain' cannot "
                                                  "continue a session (it has no resume_command)")
    assert (await hub.get("/runs", params={"project_id": project["id"]})).json()["runs"] == []


BAD_NODES: list[tuple[dict[str, Any], str]] = [
    ({"check": []}, "check"),
    ({"check": "pytest -q"}, "check"),
    ({"check": ["pytest", 5]}, "check.1"),
    ({"check": ["pytest", ""]}, "check.1"),
    ({"check": ["pytest", "a\x00b"]}, "check"),
    ({"check": ["pytest"], "max_repairs": -1}, "max_repairs"),
    ({"check": ["pytest"], "max_repairs": 11}, "max_repairs"),
    ({"check": ["pytest"], "max_repairs": "2"}, "max_repairs"),
    ({"check": ["pytest"], "check_timeout_s": 0}, "check_timeout_s"),
    ({"max_repairs": 1}, "max_repairs"),  # repairs against no check
    ({"kind": "gate", "agent": None, "check": ["pytest"]}, "check"),
]


async def test_bad_check_fields_are_refused_naming_the_field(hub: LiveHub) -> None:
    project = await hub.create_project()
    pid = project["id"]
    for fields, field in BAD_NODES:
        await hub.refuse_node(pid, fields, field)
    assert (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"] == []


async def test_patching_check_fields_is_validated_against_the_node(hub: LiveHub) -> None:
    project = await hub.create_project()
    pid = project["id"]
    node = await hub.create_node(pid, id="a", check=["pytest", "-q"], max_repairs=2)
    assert (node["check"], node["max_repairs"], node["check_timeout_s"]) == (["pytest", "-q"], 2, None)
    await hub.create_node(pid, id="g", kind="gate", agent=None, title="gate")
    for path, patch, field in [("a", {"kind": "gate", "agent": None}, "check"),
                               ("a", {"check": None}, "max_repairs"),
                               ("a", {"max_repairs": -1}, "max_repairs"),
                               ("g", {"check": ["pytest"]}, "check")]:
        response = await hub.patch(f"/projects/{pid}/nodes/{path}", patch)
        assert response.status_code == 422, (patch, response.text)
        error = response.json()["error"]
        assert f"'{field}'" in error["message"] or (error["details"] or {}).get("field") == field
    assert (await hub.get(f"/projects/{pid}/nodes/a")).json() == node
    cleared = await hub.patch(f"/projects/{pid}/nodes/a", {"check": None, "max_repairs": 0})
    assert cleared.status_code == 200
    assert (cleared.json()["check"], cleared.json()["max_repairs"]) == (None, 0)
    changed = await hub.patch(f"/projects/{pid}/nodes/a", {"check": ["npm", "test"], "check_timeout_s": 90})
    assert (changed.json()["check"], changed.json()["check_timeout_s"]) == (["npm", "test"], 90)


async def test_a_repair_that_cannot_happen_says_why_in_an_event_and_the_error(hub: LiveHub) -> None:
    """Issue 26, item 6: a text template can resume, but its output carries no session id; on 5d24be3
    the node just failed with the check's error, and the reason was only in the hub's log."""
    claude = str(hub.settings.claude_bin)
    assert (await hub.post("/agent-templates", {
        "id": "texty", "name": "Texty", "command": [claude, "{prompt}"], "output": "text",
        "resume_command": [claude, "--resume", "{session_id}", "{prompt}"]})).status_code == 201
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", agent="texty", check=check(ALWAYS_FAILS), max_repairs=1)
    run = await hub.wait_run(await hub.launch(project["id"]))
    (only,) = run["executions"]
    assert only["status"] == "failed"
    reason = ("no repair: its agent reported no session id, so agent template 'texty' cannot continue its "
              "session (resume_command)")
    assert only["error"] == f"check `{shlex.join(check(ALWAYS_FAILS))}` failed with exit code 1; {reason}"
    events = await hub.events(only["id"])
    errors = [e["output"]["message"] for e in of_type(events, "execution.output") if e["output"]["kind"] == "error"]
    assert errors == [reason]
    assert (await hub.get(f"/executions/{only['id']}")).json()["error"] == only["error"]
