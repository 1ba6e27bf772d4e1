"""Git checkpoints on a real repository: worktrees per execution, branches, merges, diffs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from conftest import FakeAgents, LiveHub


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


async def git_project(hub: LiveHub) -> tuple[dict[str, Any], Path]:
    """A project whose workspace is a repository with one commit and some uncommitted user work."""
    project = await hub.create_project(workspace="repo")
    repo = Path(project["workspace"])
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("base\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "base")
    (repo / "README.md").write_text("base\nuser's uncommitted edit\n")
    (repo / "scratch.txt").write_text("user's untracked file\n")
    return project, repo


def recorded_by_prompt(agents: FakeAgents) -> dict[str, dict[str, Any]]:
    """Each record under its prompt's first word (downstream prompts get upstream results appended)."""
    return {record["prompt"].split()[0]: record for record in agents.recorded()}


async def test_each_node_commits_on_its_own_branch_and_downstream_sees_upstream(
    hub: LiveHub, agents: FakeAgents
) -> None:
    project, repo = await git_project(hub)
    head = git(repo, "rev-parse", "HEAD").strip()
    pid = project["id"]
    await hub.create_node(pid, id="a", prompt="@write=a.txt:from-a")
    await hub.create_node(pid, id="b", prompt="@write=b.txt:from-b", depends_on=["a"])
    await hub.create_node(pid, id="c", prompt="@write=c.txt:from-c", depends_on=["a", "b"])
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "succeeded", run
    by_node = {e["node_id"]: e for e in run["executions"]}
    branches = set(git(repo, "branch", "--list", "orchestra/*", "--format=%(refname:short)").split())
    assert branches == {f"orchestra/{run['id']}/{n}" for n in "abc"}
    for node in "abc":
        assert by_node[node]["branch"] == f"orchestra/{run['id']}/{node}"
        assert git(repo, "rev-parse", by_node[node]["branch"]).strip() == by_node[node]["commit_sha"]
    assert by_node["a"]["base_commit"] == head
    assert by_node["b"]["base_commit"] == by_node["a"]["commit_sha"]

    records = recorded_by_prompt(agents)
    b_saw = records["@write=b.txt:from-b"]["files"]
    assert b_saw["a.txt"] == "from-a\n"
    assert b_saw["README.md"] == "base\n"  # the committed state, not the user's uncommitted edit
    assert "scratch.txt" not in b_saw
    c_saw = records["@write=c.txt:from-c"]["files"]
    assert c_saw["a.txt"] == "from-a\n" and c_saw["b.txt"] == "from-b\n"
    assert len({r["cwd"] for r in records.values()}) == 3  # a worktree each
    assert all(r["cwd"] != str(repo) for r in records.values())

    diff = (await hub.get(f"/executions/{by_node['b']['id']}/diff")).json()
    assert diff["files"] == [{"path": "b.txt", "added": 1, "removed": 0}]
    assert "+from-b" in diff["diff"]
    assert "a.txt" not in diff["diff"]

    # the user's checkout is untouched: same HEAD, same branch, uncommitted work still there
    assert git(repo, "rev-parse", "HEAD").strip() == head
    assert git(repo, "branch", "--show-current").strip() == "main"
    assert (repo / "README.md").read_text() == "base\nuser's uncommitted edit\n"
    assert (repo / "scratch.txt").read_text() == "user's untracked file\n"
    assert not (repo / "a.txt").exists()
    assert git(repo, "worktree", "list").count("\n") == 1  # every execution's worktree is gone


async def test_a_merge_conflict_fails_the_fan_in_node_and_names_the_file(hub: LiveHub) -> None:
    project, repo = await git_project(hub)
    pid = project["id"]
    await hub.create_node(pid, id="left", prompt="@write=same.txt:left")
    await hub.create_node(pid, id="right", prompt="@write=same.txt:right")
    await hub.create_node(pid, id="join", prompt="join them", depends_on=["left", "right"])
    await hub.create_node(pid, id="after", prompt="never", depends_on=["join"])
    run = await hub.wait_run(await hub.launch(pid))
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert by_node["left"]["status"] == by_node["right"]["status"] == "succeeded"
    assert by_node["join"]["status"] == "failed"
    assert "merge conflict in same.txt" in by_node["join"]["error"]
    assert by_node["after"]["status"] == "skipped"
    errors = [e["output"] for e in await hub.events(by_node["join"]["id"]) if e["type"] == "execution.output"]
    assert errors[0]["files"] == ["same.txt"]
    assert git(repo, "worktree", "list").count("\n") == 1
    assert (repo / "README.md").read_text() == "base\nuser's uncommitted edit\n"


async def test_no_changes_means_no_branch_and_plain_workspaces_have_no_diff(hub: LiveHub) -> None:
    project, _ = await git_project(hub)
    await hub.create_node(project["id"], id="idle", prompt="look only")
    run = await hub.wait_run(await hub.launch(project["id"]))
    (execution,) = run["executions"]
    assert execution["branch"] is None
    assert execution["commit_sha"] == execution["base_commit"]
    diff = (await hub.get(f"/executions/{execution['id']}/diff")).json()
    assert diff["files"] == [] and diff["diff"] == ""

    plain = await hub.create_project(name="plain")
    await hub.create_node(plain["id"], id="x")
    plain_run = await hub.wait_run(await hub.launch(plain["id"]))
    response = await hub.get(f"/executions/{plain_run['executions'][0]['id']}/diff")
    assert response.status_code == 404
    assert "no git checkpoint" in response.json()["error"]["message"]
