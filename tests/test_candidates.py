"""Best of N, on real git repositories with the fake agent: a node's candidates run side by side in
worktrees and on branches of their own; the first whose check passes (or the one a person picks) is
the node's result, and downstream nodes start from its commit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import TOKEN, FakeAgents, LiveHub, make_settings
from hubproc import hub_env, hub_process, stop_while_waiting, wait_for_event
from test_git_checkpoints import git, git_project

from orchestra.core.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, agents: FakeAgents) -> Settings:
    """Room for three candidates at once, whatever the machine's CPU count (the hub-wide default)."""
    return make_settings(tmp_path, agents, max_parallel=4)


PASSES_ON_PASS = ["-c", "import pathlib, sys; sys.exit(pathlib.Path('verdict.txt').read_text().strip() != 'pass')"]


async def add_template(hub: LiveHub, agents: FakeAgents, template_id: str, extra: str) -> None:
    """A user template running the fake claude with ``extra`` directives after the node's prompt (later
    directives win), so candidates with the same prompt do different work."""
    wrapper = agents.bin_dir / template_id
    wrapper.write_text(f"#!{sys.executable}\nimport os, sys\nargs = sys.argv[1:]\n"
                       f"args[args.index('-p') + 1] += {' ' + extra!r}\n"
                       f"os.execv({str(hub.settings.claude_bin)!r}, [{str(hub.settings.claude_bin)!r}, *args])\n")
    wrapper.chmod(0o755)
    response = await hub.post("/agent-templates", {
        "id": template_id, "name": template_id, "output": "claude-stream-json",
        "command": [str(wrapper), "-p", "{prompt}", "--output-format", "stream-json"]})
    assert response.status_code == 201, response.text


def candidates_of(run: dict[str, Any], node_id: str) -> list[dict[str, Any]]:
    return sorted((e for e in run["executions"] if e["node_id"] == node_id and e["candidate"]),
                  key=lambda e: e["candidate"])


async def test_best_of_3_keeps_the_candidate_whose_check_passes_and_downstream_builds_on_it(
    hub: LiveHub, agents: FakeAgents
) -> None:
    project, repo = await git_project(hub)
    pid = project["id"]
    await add_template(hub, agents, "good", "@write=verdict.txt:pass")
    await add_template(hub, agents, "slowpoke", "@sleep=60")  # still working when the good one passes
    await hub.create_node(pid, id="fix", prompt="@write=verdict.txt:fail", check=[sys.executable, *PASSES_ON_PASS],
                          candidates=["good", "slowpoke", "slowpoke"])
    await hub.create_node(pid, id="after", prompt="@write=after.txt:after", depends_on=["fix"])
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "succeeded", run
    good, slow1, slow2 = candidates_of(run, "fix")
    assert [(e["candidate"], e["agent"]) for e in (good, slow1, slow2)] == [(1, "good"), (2, "slowpoke"),
                                                                           (3, "slowpoke")]
    assert good["status"] == "succeeded"
    for loser in (slow1, slow2):
        assert loser["status"] == "cancelled"
        assert loser["error"] == f"candidate 1 ({good['id']}) passed the check first"
    assert good["branch"] == f"orchestra/{run['id']}/fix-c1"
    assert git(repo, "show", f"{good['branch']}:verdict.txt") == "pass\n"

    (after,) = [e for e in run["executions"] if e["node_id"] == "after"]
    assert after["base_commit"] == good["commit_sha"]
    record = next(r for r in agents.recorded() if r["prompt"].startswith("@write=after.txt"))
    assert record["files"]["verdict.txt"] == "pass\n"


async def test_no_candidate_passing_its_check_fails_the_node(hub: LiveHub) -> None:
    project, _ = await git_project(hub)
    pid = project["id"]
    await hub.create_node(pid, id="fix", prompt="@write=verdict.txt:fail", check=[sys.executable, *PASSES_ON_PASS],
                          candidates=2)
    await hub.create_node(pid, id="after", depends_on=["fix"])
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "failed"
    first, second = candidates_of(run, "fix")
    assert [first["status"], second["status"]] == ["failed", "failed"]
    assert {first["branch"], second["branch"]} == {f"orchestra/{run['id']}/fix-c1", f"orchestra/{run['id']}/fix-c2"}
    assert first["workspace"] != second["workspace"]  # a worktree each
    assert [e["status"] for e in run["executions"] if e["node_id"] == "after"] == ["skipped"]


async def test_without_a_check_a_person_picks_the_candidate(hub: LiveHub) -> None:
    project, repo = await git_project(hub)
    pid = project["id"]
    await hub.create_node(pid, id="draft", prompt="@write=draft.txt:draft", candidates=3)
    await hub.create_node(pid, id="review", kind="gate", agent=None, title="Review")
    await hub.create_node(pid, id="after", prompt="@write=after.txt:after", depends_on=["draft"])
    launched = await hub.launch(pid)
    pick = None

    async def read() -> list[dict[str, Any]]:
        return (await hub.get("/executions", params={"run_id": launched["run_id"], "node_id": "draft"})).json()[
            "executions"]

    executions = await hub.wait_for(pid, lambda es: any(e["status"] == "waiting" for e in es), read)
    pick = next(e for e in executions if e["status"] == "waiting")
    assert (pick["agent"], pick["candidate"]) == ("gate", None)
    done = sorted((e for e in executions if e["candidate"]), key=lambda e: e["candidate"])
    assert [e["status"] for e in done] == ["succeeded"] * 3
    assert len({e["commit_sha"] for e in done}) == 3
    chosen = done[1]

    review = next(e for e in (await hub.get(f"/runs/{launched['run_id']}")).json()["executions"]
                  if e["node_id"] == "review")
    refusals = [
        (pick["id"], "approve", {}, 422, "'candidate' must name one of the candidates that succeeded"),
        (pick["id"], "approve", {"candidate": "exe_nope"}, 422, "'candidate' must name one of"),
        (pick["id"], "reject", {"candidate": chosen["id"]}, 422, "'candidate' is for approving a pick"),
        (pick["id"], "approve", {"candidate": 2}, 422, "candidate"),
        (review["id"], "approve", {"candidate": chosen["id"]}, 409, "not a pick among candidates"),
    ]
    for execution_id, verb, body, status, message in refusals:
        response = await hub.post(f"/executions/{execution_id}/{verb}", body)
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["error"]["message"]
    assert (await hub.get(f"/executions/{pick['id']}")).json()["status"] == "waiting"  # nothing changed

    picked = await hub.post(f"/executions/{pick['id']}/approve", {"candidate": chosen["id"], "comment": "tidiest"})
    assert picked.status_code == 200, picked.text
    await hub.post(f"/executions/{review['id']}/approve")
    run = await hub.wait_run(launched)
    assert run["status"] == "succeeded", run
    decided = next(e for e in run["executions"] if e["id"] == pick["id"])
    assert decided["status"] == "succeeded"
    assert decided["result_text"] == f"picked {chosen['id']}: tidiest"
    assert (decided["commit_sha"], decided["branch"]) == (chosen["commit_sha"], f"orchestra/{run['id']}/draft-c2")
    (after,) = [e for e in run["executions"] if e["node_id"] == "after"]
    assert after["base_commit"] == chosen["commit_sha"]
    assert git(repo, "rev-parse", f"orchestra/{run['id']}/draft-c1").strip() == done[0]["commit_sha"]  # kept


BAD_NODES: list[tuple[dict[str, Any], str]] = [
    ({"candidates": 1}, "candidates"),
    ({"candidates": 6}, "candidates"),
    ({"candidates": "3"}, "candidates"),
    ({"candidates": ["claude-code"]}, "candidates"),
    ({"candidates": ["claude-code", "nope"]}, "candidates"),
    ({"candidates": ["claude-code", "bad id!"]}, "candidates"),
    ({"candidates": 2, "kind": "gate", "agent": None}, "candidates"),
    ({"candidates": 2, "kind": "plan"}, "candidates"),
    ({"candidates": 2, "retries": 1}, "retries"),
    ({"candidates": 2, "check": ["pytest"], "max_repairs": 1}, "max_repairs"),
]


async def test_bad_candidates_are_refused_naming_the_field(hub: LiveHub) -> None:
    project = await hub.create_project()
    pid = project["id"]
    for fields, field in BAD_NODES:
        await hub.refuse_node(pid, fields, field)
    node = await hub.create_node(pid, id="n", candidates=["claude-code", "codex"])
    assert node["candidates"] == ["claude-code", "codex"]
    refused = await hub.patch(f"/projects/{pid}/nodes/n", {"retries": 2})
    assert refused.status_code == 422 and refused.json()["error"]["details"]["field"] == "retries"
    assert (await hub.get(f"/projects/{pid}/nodes/n")).json() == node
    cleared = await hub.patch(f"/projects/{pid}/nodes/n", {"candidates": None, "retries": 2})
    assert (cleared.json()["candidates"], cleared.json()["retries"]) == (None, 2)


async def test_a_waiting_pick_survives_a_restart(tmp_path: Path, agents: FakeAgents) -> None:
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"))
    async with hub_process(env) as hub, hub.http() as http:
        pid = (await http.post("/projects", json={"name": "picky"})).json()["id"]
        for node in ({"id": "draft", "title": "Draft", "prompt": "@result=draft", "agent": "claude-code",
                      "candidates": 2},
                     {"id": "ship", "title": "Ship", "prompt": "ship it", "agent": "claude-code",
                      "depends_on": ["draft"]}):
            assert (await http.post(f"/projects/{pid}/nodes", json=node)).status_code == 201
        launched, waiting = await stop_while_waiting(hub, http, pid)

    async with hub_process(env) as hub, hub.http() as http:
        run = (await http.get(f"/runs/{launched['run_id']}")).json()
        assert [(e["node_id"], e["candidate"], e["status"]) for e in run["executions"]] == [
            ("draft", 1, "succeeded"), ("ship", None, "queued"), ("draft", 2, "succeeded"),
            ("draft", None, "waiting")]
        second = run["executions"][2]
        response = await http.post(f"/executions/{waiting['execution_id']}/approve", json={"candidate": second["id"]})
        assert response.status_code == 200, response.text
        await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished")
        run = (await http.get(f"/runs/{launched['run_id']}")).json()
    assert run["status"] == "succeeded"
    assert run["executions"][3]["result_text"] == f"picked {second['id']}"
    ship_prompt = next(r["prompt"] for r in agents.recorded() if r["prompt"].startswith("ship it"))
    assert "draft" in ship_prompt.split("---", 1)[1]  # the picked candidate's result
