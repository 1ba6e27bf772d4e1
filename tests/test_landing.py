"""Landing a run's work (a land node, POST /runs/{id}/land) on a real repository, with a real bare repository
as the remote (file://) and the GitHub stand-in on loopback: merge, push, pull request; conflicts repaired by
the agent whose work conflicts (the fake agent resolves markers when resumed); refusals that change nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import FakeAgents, LiveHub, make_settings, serving
from forge_server import GitHubServer


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()


async def git_project(hub: LiveHub, tmp_path: Path, *, remote: bool = True) -> tuple[dict[str, Any], Path, Path]:
    """A project whose workspace is a clean repository on main (story.txt), and a bare remote 'origin'."""
    project = await hub.create_project(workspace="repo")
    repo = Path(project["workspace"])
    git(repo, "init", "-q", "-b", "main")
    (repo / "story.txt").write_text("one\ntwo\nthree\n")
    git(repo, "add", "story.txt")
    git(repo, "commit", "-q", "-m", "base")
    bare = tmp_path / "remotes" / "acme" / "widgets.git"
    bare.mkdir(parents=True)
    git(bare, "init", "-q", "--bare")
    if remote:
        git(repo, "remote", "add", "origin", f"file://{bare}")
    return project, repo, bare


async def three_nodes_and_land(hub: LiveHub, pid: str, land: dict[str, Any], **land_fields: Any) -> None:
    await hub.create_node(pid, id="a", title="Write a", prompt="@write=a.txt:from-a @result=wrote-a")
    await hub.create_node(pid, id="b", title="Write b", prompt="@write=b.txt:from-b", depends_on=["a"])
    await hub.create_node(pid, id="c", title="Write c", prompt="@write=c.txt:from-c", depends_on=["b"])
    await hub.create_node(pid, id="ship", title="Ship it", kind="land", agent=None, land=land, depends_on=["c"],
                          **land_fields)


def by_node(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["node_id"]: e for e in run["executions"]}  # the latest execution of each node


def refs(bare: Path) -> str:
    return git(bare, "for-each-ref", "--format=%(refname) %(objectname)")


async def test_merge_lands_a_three_node_run_on_the_base_and_a_second_landing_changes_nothing(
        hub: LiveHub, tmp_path: Path) -> None:
    project, repo, _ = await git_project(hub, tmp_path)
    base = git(repo, "rev-parse", "HEAD")
    await three_nodes_and_land(hub, project["id"], {"mode": "merge"})
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded", run
    nodes = by_node(run)
    result = nodes["c"]["commit_sha"]
    assert git(repo, "rev-parse", "main") == result  # a fast-forward: the base's log shows the run's commits
    log = git(repo, "log", "--format=%s", f"{base}..main").splitlines()
    assert [line.split(" (")[0] for line in log] == ["orchestra: Write c", "orchestra: Write b", "orchestra: Write a"]
    assert git(repo, "diff", base, "main") == git(repo, "diff", base, result)
    assert (repo / "c.txt").read_text() == "from-c\n" and git(repo, "status", "--porcelain") == ""
    assert run["landed"]["mode"] == "merge" and run["landed"]["commit"] == result
    assert run["landed"]["base"] == "main"
    assert nodes["ship"]["status"] == "succeeded" and nodes["ship"]["agent"] == "land"
    assert nodes["ship"]["result_text"] == f"merged into main at {result[:12]}"
    # landing again (the run panel's Land action) changes nothing
    again = await hub.post(f"/runs/{run['id']}/land")
    assert again.status_code == 200, again.text
    assert again.json()["landed"] == run["landed"]
    assert git(repo, "rev-parse", "main") == result


async def merge_waiting_at_a_gate(hub: LiveHub, tmp_path: Path) -> tuple[Path, dict[str, Any], str]:
    """a -> gate -> ship (a merge land node) in a git workspace, launched: (the repository, the launch, the
    gate's execution once it waits)."""
    project, repo, _ = await git_project(hub, tmp_path)
    pid = project["id"]
    await hub.create_node(pid, id="a", title="Write a", prompt="@write=a.txt:from-a")
    await hub.create_node(pid, id="gate", title="Review", kind="gate", agent=None, depends_on=["a"])
    await hub.create_node(pid, id="ship", title="Ship", kind="land", agent=None, land={"mode": "merge"},
                          depends_on=["gate"])
    launched = await hub.launch(pid)
    gate_id = next(e["id"] for e in launched["executions"] if e["node_id"] == "gate")
    await hub.wait_execution(gate_id, {"waiting"})
    return repo, launched, gate_id


async def test_merge_makes_a_merge_commit_listing_the_nodes_when_the_base_moved(hub: LiveHub, tmp_path: Path) -> None:
    repo, launched, gate_id = await merge_waiting_at_a_gate(hub, tmp_path)
    (repo / "other.txt").write_text("a person's work\n")
    git(repo, "add", "other.txt")
    git(repo, "commit", "-q", "-m", "meanwhile")
    moved = git(repo, "rev-parse", "HEAD")
    assert (await hub.post(f"/executions/{gate_id}/approve", {})).status_code == 200
    run = await hub.wait_run(launched)
    assert run["status"] == "succeeded", run
    assert git(repo, "log", "-1", "--format=%P", "main").split() == [moved, by_node(run)["a"]["commit_sha"]]
    message = git(repo, "log", "-1", "--format=%B", "main")
    assert f"land run {run['id']}" in message and "- Write a (a)" in message


async def test_push_pushes_the_result_branch_and_a_second_landing_changes_nothing(
        hub: LiveHub, tmp_path: Path) -> None:
    project, repo, bare = await git_project(hub, tmp_path)
    await three_nodes_and_land(hub, project["id"], {"mode": "push"})
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded", run
    branch = f"orchestra/{project['id']}/{run['id']}"
    result = by_node(run)["c"]["commit_sha"]
    assert git(bare, "rev-parse", f"refs/heads/{branch}") == result
    assert run["landed"] == {"mode": "push", "branch": branch, "commit": result,
                             "landed_at": run["landed"]["landed_at"]}
    assert git(repo, "rev-parse", "main") != result  # push leaves the base alone
    before = refs(bare)
    again = await hub.post(f"/runs/{run['id']}/land")
    assert again.status_code == 200, again.text
    assert again.json()["landed"] == run["landed"] and refs(bare) == before


async def test_a_named_branch_and_remote(hub: LiveHub, tmp_path: Path) -> None:
    project, repo, bare = await git_project(hub, tmp_path, remote=False)
    git(repo, "remote", "add", "upstream", f"file://{bare}")
    await three_nodes_and_land(hub, project["id"], {"mode": "push", "remote": "upstream", "branch": "feature/x"})
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded", run
    assert git(bare, "rev-parse", "refs/heads/feature/x") == by_node(run)["c"]["commit_sha"]


@pytest.fixture
async def github(nursery: trio.Nursery) -> GitHubServer:
    server: GitHubServer = await nursery.start(GitHubServer().serve)
    return server


async def test_pull_request_is_opened_with_the_runs_title_and_body_then_updated(
        tmp_path: Path, agents: FakeAgents, github: GitHubServer) -> None:
    settings = make_settings(tmp_path, agents, github_token=github.token, github_api=github.url)
    async with serving(settings) as hub:
        project, _, bare = await git_project(hub, tmp_path)
        await three_nodes_and_land(hub, project["id"], {"mode": "pull_request"})
        run = await hub.wait_run(await hub.launch(project["id"]))
        assert run["status"] == "succeeded", run
        branch = f"orchestra/{project['id']}/{run['id']}"
        assert git(bare, "rev-parse", f"refs/heads/{branch}") == by_node(run)["c"]["commit_sha"]
        post = next(r for r in github.requests if r.method == "POST")
        assert post.path == "/repos/acme/widgets/pulls" and post.authorization == f"Bearer {github.token}"
        assert post.body["head"] == branch and post.body["base"] == "main"
        assert post.body["title"] == "test project: Write c"
        assert run["id"] in post.body["body"] and "wrote-a" in post.body["body"]
        assert f"#project={project['id']}&run={run['id']}" in post.body["body"]
        assert "| Write b (`b`) |" in post.body["body"] and "duration: " in post.body["body"]
        assert "duration: —" not in post.body["body"]
        landed = run["landed"]
        assert (landed["url"], landed["number"], landed["branch"]) == (
            "https://github.example/acme/widgets/pull/1", 1, branch)
        again = await hub.post(f"/runs/{run['id']}/land")
        assert again.status_code == 200, again.text
        assert [r.method for r in github.requests] == ["GET", "POST", "GET", "PATCH"]
        assert len(github.pulls) == 1 and again.json()["landed"]["url"] == landed["url"]


@pytest.mark.parametrize(("status", "body", "message"), [
    (401, {"message": "Bad credentials"}, "answered 401: Bad credentials"),
    (422, {"message": "Validation Failed", "errors": [{"message": "A pull request already exists"}]},
     "answered 422: Validation Failed; A pull request already exists"),
])
async def test_an_api_refusal_fails_the_landing_with_its_message_and_no_token(
        tmp_path: Path, agents: FakeAgents, github: GitHubServer, status: int, body: dict[str, Any],
        message: str) -> None:
    github.fail = (status, body | {"token_echo": github.token})
    settings = make_settings(tmp_path, agents, github_token=github.token, github_api=github.url)
    async with serving(settings) as hub:
        project, _, bare = await git_project(hub, tmp_path)
        await three_nodes_and_land(hub, project["id"], {"mode": "pull_request"})
        run = await hub.wait_run(await hub.launch(project["id"]))
        assert run["status"] == "failed" and run["landed"] is None
        ship = by_node(run)["ship"]
        assert ship["status"] == "failed" and message in ship["error"] and github.token not in ship["error"]
        events = str(await hub.events(ship["id"]))
        assert message in events and github.token not in events
        branch = f"orchestra/{project['id']}/{run['id']}"
        assert git(bare, "rev-parse", f"refs/heads/{branch}")  # the branch stays, to land again
        retry = await hub.post(f"/runs/{run['id']}/land")  # the Land action retries: the API still refuses
        assert retry.status_code == 409 and message in retry.text and github.token not in retry.text


async def conflicting_project(hub: LiveHub, tmp_path: Path, agent_line: str, max_repairs: int,
                              ) -> tuple[dict[str, Any], Path, dict[str, Any]]:
    """Node a edits line two of story.txt; while the gate waits, a person edits the same line on main;
    then the land node merges."""
    project, repo, _ = await git_project(hub, tmp_path)
    pid = project["id"]
    await hub.create_node(pid, id="a", title="Edit", prompt=f"@write=story.txt:{agent_line}", check=["true"])
    await hub.create_node(pid, id="gate", title="Review", kind="gate", agent=None, depends_on=["a"])
    await hub.create_node(pid, id="ship", title="Ship", kind="land", agent=None, land={"mode": "merge"},
                          depends_on=["gate"], max_repairs=max_repairs)
    launched = await hub.launch(pid)
    gate_id = next(e["id"] for e in launched["executions"] if e["node_id"] == "gate")
    await hub.wait_execution(gate_id, {"waiting"})
    (repo / "story.txt").write_text("one\ntwo by a person\nthree\n")
    git(repo, "commit", "-q", "-am", "a person's edit")
    assert (await hub.post(f"/executions/{gate_id}/approve", {})).status_code == 200
    return project, repo, await hub.wait_run(launched)


async def test_a_conflict_with_the_base_is_repaired_in_the_agents_session_and_lands(
        hub: LiveHub, tmp_path: Path, agents: FakeAgents) -> None:
    _, repo, run = await conflicting_project(hub, tmp_path, "agent-line", max_repairs=1)
    assert run["status"] == "succeeded", run
    turns = [e for e in run["executions"] if e["node_id"] == "a"]
    first, repair = turns
    assert repair["parent_execution_id"] == first["id"] and repair["session_id"] == first["session_id"]
    assert "conflicts in story.txt" in repair["prompt"] and "<<<<<<<" in repair["prompt"]
    assert "(repair 1 of 1)" in repair["prompt"]
    record = next(r for r in agents.recorded() if r["prompt"] == repair["prompt"])
    assert record["argv"][record["argv"].index("--resume") + 1] == first["session_id"]
    assert "<<<<<<<" in record["files"]["story.txt"]  # the agent saw the markers in its working directory
    story = (repo / "story.txt").read_text()
    assert story == "agent-line\none\ntwo by a person\nthree\n"  # both sides kept by the fake agent, ours first
    assert "<<<<<<<" not in story
    main = git(repo, "rev-parse", "main")
    assert main == repair["commit_sha"] == run["landed"]["commit"]
    check_events = [e for e in await hub.events(repair["id"]) if e["type"] == "check.finished"]
    assert check_events and check_events[0]["check"]["passed"]  # the node's check ran on the merged result


async def test_a_repair_that_does_not_resolve_fails_after_max_repairs_naming_the_files(
        hub: LiveHub, tmp_path: Path) -> None:
    _, repo, run = await conflicting_project(hub, tmp_path, "@stubborn-agent-line", max_repairs=2)
    assert run["status"] == "failed"
    ship = by_node(run)["ship"]
    assert "merge conflict in story.txt not resolved after 2 repair turn(s)" in ship["error"]
    assert len([e for e in run["executions"] if e["node_id"] == "a"]) == 3  # the first turn and two repairs
    assert (repo / "story.txt").read_text() == "one\ntwo by a person\nthree\n"  # the base unchanged
    assert run["landed"] is None


async def test_a_conflict_without_repairs_fails_the_landing_and_changes_nothing(hub: LiveHub, tmp_path: Path) -> None:
    _, repo, run = await conflicting_project(hub, tmp_path, "agent-line", max_repairs=0)
    error = by_node(run)["ship"]["error"]
    assert run["status"] == "failed" and "the base branch 'main'" in error and "conflicts with the work of node 'a' " \
        "in story.txt; allow repair turns (max_repairs)" in error, error
    assert git(repo, "log", "-1", "--format=%s", "main") == "a person's edit"


async def test_a_fan_in_conflict_is_repaired_by_the_upstream_agent(hub: LiveHub, tmp_path: Path) -> None:
    project, repo, _ = await git_project(hub, tmp_path)
    pid = project["id"]
    await hub.create_node(pid, id="a", prompt="@write=story.txt:from-a")
    await hub.create_node(pid, id="b", prompt="@write=story.txt:from-b")
    await hub.create_node(pid, id="c", prompt="@write=c.txt:from-c", depends_on=["a", "b"], check=["true"],
                          max_repairs=1)
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "succeeded", run
    b_turns = [e for e in run["executions"] if e["node_id"] == "b"]
    assert len(b_turns) == 2 and b_turns[1]["parent_execution_id"] == b_turns[0]["id"]
    c = by_node(run)["c"]
    assert c["base_commit"] == b_turns[1]["commit_sha"]  # the fan-in starts from the repaired merge
    merged = git(repo, "show", f"{c['commit_sha']}:story.txt")
    assert "from-a" in merged and "from-b" in merged and "<<<<<<<" not in merged


async def test_a_fan_in_conflict_without_repairs_still_fails_naming_the_files(hub: LiveHub, tmp_path: Path) -> None:
    project, _, _ = await git_project(hub, tmp_path)
    pid = project["id"]
    await hub.create_node(pid, id="a", prompt="@write=story.txt:from-a")
    await hub.create_node(pid, id="b", prompt="@write=story.txt:from-b")
    await hub.create_node(pid, id="c", prompt="@write=c.txt:from-c", depends_on=["a", "b"])
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "failed" and "merge conflict in story.txt" in by_node(run)["c"]["error"]


# -- refusals: clear 409/422, nothing pushed or changed ----------------------------------------------


async def test_landing_a_failed_or_running_run_is_refused(hub: LiveHub, tmp_path: Path) -> None:
    project, repo, bare = await git_project(hub, tmp_path)
    pid = project["id"]
    await hub.create_node(pid, id="a", prompt="@fail")
    await hub.create_node(pid, id="ship", kind="land", agent=None, land={"mode": "push"}, depends_on=["a"])
    failed = await hub.wait_run(await hub.launch(pid))
    assert failed["status"] == "failed"
    refused = await hub.post(f"/runs/{failed['id']}/land")
    assert refused.status_code == 409 and "did not succeed (node(s) a)" in refused.json()["error"]["message"]
    await hub.patch(f"/projects/{pid}/nodes/a", {"prompt": "ok"})
    await hub.create_node(pid, id="gate", kind="gate", agent=None, depends_on=["a"])
    await hub.patch(f"/projects/{pid}/nodes/ship", {"depends_on": ["gate"]})
    launched = await hub.launch(pid)
    gate_id = next(e["id"] for e in launched["executions"] if e["node_id"] == "gate")
    await hub.wait_execution(gate_id, {"waiting"})
    running = await hub.post(f"/runs/{launched['run_id']}/land")
    assert running.status_code == 409 and "still running" in running.json()["error"]["message"]
    assert (await hub.post(f"/executions/{gate_id}/reject", {"comment": "no"})).status_code == 200
    rejected = await hub.wait_run(launched)
    refused = await hub.post(f"/runs/{rejected['id']}/land")
    assert refused.status_code == 409 and "gate" in refused.json()["error"]["message"]
    assert refs(bare) == "" and git(repo, "status", "--porcelain") == ""


async def test_a_dirty_base_is_refused_then_lands_once_clean(hub: LiveHub, tmp_path: Path) -> None:
    project, repo, _ = await git_project(hub, tmp_path)
    base = git(repo, "rev-parse", "HEAD")
    await three_nodes_and_land(hub, project["id"], {"mode": "merge"})
    (repo / "story.txt").write_text("a person is editing\n")
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "failed" and "uncommitted changes (story.txt)" in by_node(run)["ship"]["error"]
    refused = await hub.post(f"/runs/{run['id']}/land")
    assert refused.status_code == 409 and "uncommitted changes" in refused.json()["error"]["message"]
    assert git(repo, "rev-parse", "main") == base and (repo / "story.txt").read_text() == "a person is editing\n"
    git(repo, "checkout", "--", "story.txt")
    landed = await hub.post(f"/runs/{run['id']}/land")  # the landing is retried by hand once the base is clean
    assert landed.status_code == 200, landed.text
    assert git(repo, "rev-parse", "main") == by_node(run)["c"]["commit_sha"] == landed.json()["landed"]["commit"]


async def test_a_missing_remote_or_token_is_refused_with_422(hub: LiveHub, tmp_path: Path) -> None:
    project, repo, bare = await git_project(hub, tmp_path, remote=False)
    await three_nodes_and_land(hub, project["id"], {"mode": "push"})
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert "no remote named 'origin'" in by_node(run)["ship"]["error"]
    refused = await hub.post(f"/runs/{run['id']}/land")
    assert refused.status_code == 422 and "no remote named 'origin'" in refused.json()["error"]["message"]
    git(repo, "remote", "add", "origin", f"file://{bare}")
    await hub.patch(f"/projects/{project['id']}/nodes/ship", {"land": {"mode": "pull_request"}})
    refused = await hub.post(f"/runs/{run['id']}/land")
    assert refused.status_code == 422 and "ORCHESTRA_GITHUB_TOKEN" in refused.json()["error"]["message"]
    assert refs(bare) == ""


async def test_a_project_without_a_land_node_and_bad_land_settings_are_refused(hub: LiveHub, tmp_path: Path) -> None:
    project, _, _ = await git_project(hub, tmp_path)
    pid = project["id"]
    await hub.create_node(pid, id="a")
    run = await hub.wait_run(await hub.launch(pid))
    refused = await hub.post(f"/runs/{run['id']}/land")
    assert refused.status_code == 409 and "has no land node" in refused.json()["error"]["message"]
    assert (await hub.post("/runs/run-nope/land")).status_code == 404
    await hub.refuse_node(pid, {"kind": "land", "agent": None}, "land")
    await hub.refuse_node(pid, {"kind": "land", "land": {"mode": "merge"}}, "agent")
    await hub.refuse_node(pid, {"land": {"mode": "merge"}}, "land")
    for land in ({"mode": "rebase"}, {"mode": "push", "branch": "-x"}, {"mode": "push", "token": "t"}):
        body = {"title": "t", "kind": "land", "land": land}
        response = await hub.post(f"/projects/{pid}/nodes", body)
        assert response.status_code == 422 and "land" in response.text, response.text
    nodes = (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]
    assert [n["id"] for n in nodes] == ["a"]


async def test_the_terminal_client_lands_a_run_and_status_shows_how(hub: LiveHub, tmp_path: Path) -> None:
    from test_terminal_client import run_cli

    project, _, _ = await git_project(hub, tmp_path)
    await three_nodes_and_land(hub, project["id"], {"mode": "push"})
    run = await hub.wait_run(await hub.launch(project["id"]))
    branch = f"orchestra/{project['id']}/{run['id']}"
    commit = by_node(run)["c"]["commit_sha"][:12]
    shown = await run_cli(hub, "status", run["id"])
    assert f"  landed: pushed {branch} at {commit}" in shown.stdout.decode(), shown
    landed = await run_cli(hub, "land", run["id"])
    assert landed.returncode == 0 and f"landed: pushed {branch} at {commit}" in landed.stdout.decode()
    failed = await run_cli(hub, "land", "run_nope")
    assert failed.returncode != 0 and "does not exist" in failed.stderr.decode()


async def test_a_run_resumed_at_its_gate_after_a_restart_lands(tmp_path: Path, agents: FakeAgents) -> None:
    settings = make_settings(tmp_path, agents)
    async with serving(settings) as hub:
        repo, launched, gate_id = await merge_waiting_at_a_gate(hub, tmp_path)
    async with serving(settings) as hub:  # the hub stopped and started again: the gate still waits
        assert (await hub.post(f"/executions/{gate_id}/approve", {})).status_code == 200
        run = await hub.wait_run(launched)
    assert run["status"] == "succeeded", run
    assert git(repo, "rev-parse", "main") == by_node(run)["a"]["commit_sha"] == run["landed"]["commit"]


async def test_launching_only_the_land_node_lands_the_latest_work_of_the_nodes_above(
        hub: LiveHub, tmp_path: Path) -> None:
    project, repo, bare = await git_project(hub, tmp_path, remote=False)
    await three_nodes_and_land(hub, project["id"], {"mode": "push"})
    first = await hub.wait_run(await hub.launch(project["id"]))
    assert first["status"] == "failed" and "no remote named 'origin'" in by_node(first)["ship"]["error"]
    git(repo, "remote", "add", "origin", f"file://{bare}")
    again = await hub.wait_run(await hub.launch(project["id"], ["ship"]))  # the upstream results are reused
    assert again["status"] == "succeeded", again
    assert [e["node_id"] for e in again["executions"]] == ["ship"]
    branch = f"orchestra/{project['id']}/{again['id']}"
    assert git(bare, "rev-parse", f"refs/heads/{branch}") == by_node(first)["c"]["commit_sha"]


def test_the_run_finished_notification_says_how_the_run_landed() -> None:
    from orchestra.runtime.notifications import run_finished_message

    run = {"id": "run_1", "project_id": "prj_1", "status": "succeeded", "created_at": 0.0, "started_at": 0.0,
           "finished_at": 12.0, "totals": {"cost_usd": 0.5}, "error": None,
           "landed": {"mode": "pull_request", "branch": "orchestra/prj_1/run_1", "commit": "a" * 40,
                      "url": "https://github.com/acme/widgets/pull/7", "number": 7, "landed_at": 12.0}}
    body = run_finished_message(run, "shop", "http://localhost:8000/ui/#project=prj_1").body
    assert "Landed: pull request #7 https://github.com/acme/widgets/pull/7 (orchestra/prj_1/run_1 at aaaaaaaaaaaa)" \
        in body
