"""Landing as a pull request on GitLab (a merge request) and Gitea, through the same code path as GitHub's
(tests/test_landing.py): a real hub, a real repository with a bare file:// remote, and the forges' loopback
stand-ins (tests/forge_server.py). The forge is the land node's ``land.forge``; its token and API URL are
the hub's (ORCHESTRA_GITLAB_*, ORCHESTRA_GITEA_*), never the agents'."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trio
from conftest import FakeAgents, LiveHub, make_settings, serving
from forge_server import ForgeServer, GiteaServer, GitLabServer
from test_landing import by_node, git, git_project, refs, three_nodes_and_land

from orchestra.core.settings import load_settings

STANDINS: dict[str, type[ForgeServer]] = {"gitlab": GitLabServer, "gitea": GiteaServer}


def forge_settings(tmp_path: Path, agents: FakeAgents, forge: str, server: ForgeServer, **more: Any) -> Any:
    return make_settings(tmp_path, agents, **{f"{forge}_token": server.token, f"{forge}_api": server.url}, **more)


def project_path(bare: Path) -> str:
    """The GitLab project a file:// remote names: its whole path (the test's bare repository is nested deep)."""
    return str(bare).strip("/").removesuffix(".git")


@pytest.mark.parametrize("forge", ["gitlab", "gitea"])
async def test_a_landing_opens_the_request_with_the_runs_title_and_body_then_a_second_one_updates_it(
        tmp_path: Path, agents: FakeAgents, nursery: trio.Nursery, forge: str) -> None:
    server: ForgeServer = await nursery.start(STANDINS[forge]().serve)
    async with serving(forge_settings(tmp_path, agents, forge, server)) as hub:
        project, _, bare = await git_project(hub, tmp_path)
        await three_nodes_and_land(hub, project["id"], {"mode": "pull_request", "forge": forge})
        run = await hub.wait_run(await hub.launch(project["id"]))
        assert run["status"] == "succeeded", run
        branch = f"orchestra/{project['id']}/{run['id']}"
        assert git(bare, "rev-parse", f"refs/heads/{branch}") == by_node(run)["c"]["commit_sha"]
        post = next(r for r in server.requests if r.method == "POST")
        landed = run["landed"]
        if forge == "gitlab":
            # the project id is the remote's whole path, URL-encoded: nested groups included, "/" as %2F
            assert post.path == f"/projects/{quote(project_path(bare), safe='')}/merge_requests"
            assert post.path.count("%2F") == project_path(bare).count("/") >= 4 and "/" not in post.path[10:-15]
            assert post.authorization == server.token  # PRIVATE-TOKEN
            assert (post.body["source_branch"], post.body["target_branch"]) == (branch, "main")
            text = post.body["description"]
            assert landed["url"] == f"https://gitlab.example/{project_path(bare)}/-/merge_requests/1"
            assert by_node(run)["ship"]["result_text"].startswith("merge request !1 https://gitlab.example/")
        else:
            assert post.path == "/repos/acme/widgets/pulls" and post.authorization == f"token {server.token}"
            assert (post.body["head"], post.body["base"]) == (branch, "main")
            text = post.body["body"]
            assert landed["url"] == "https://gitea.example/acme/widgets/pull/1"
            assert by_node(run)["ship"]["result_text"].startswith("pull request #1 https://gitea.example/")
        assert post.body["title"] == "test project: Write c"
        assert run["id"] in text and "wrote-a" in text and "| Write b (`b`) |" in text
        assert (landed["mode"], landed["forge"], landed["number"], landed["branch"]) == (
            "pull_request", forge, 1, branch)
        writes = [r.method for r in server.requests if r.method != "GET"]
        again = await hub.post(f"/runs/{run['id']}/land")
        assert again.status_code == 200, again.text
        assert [r.method for r in server.requests if r.method != "GET"] == [
            *writes, "PUT" if forge == "gitlab" else "PATCH"]  # updated, not opened again
        assert len(server.pulls) == 1 and again.json()["landed"]["url"] == landed["url"]
        shown = (await hub.get(f"/runs/{run['id']}")).json()["landed"]
        assert shown["forge"] == forge and shown["number"] == 1


@pytest.mark.parametrize(("forge", "status", "body", "message"), [
    ("gitlab", 401, {"message": "401 Unauthorized"}, "answered 401: 401 Unauthorized"),
    ("gitlab", 422, {"message": {"target_branch": ["does not exist"]}}, "answered 422: target_branch: does not exist"),
    ("gitea", 401, {"message": "user does not exist [uid: 0, name: ]"}, "answered 401: user does not exist"),
    ("gitea", 422, {"message": "Invalid PullRequest: There are no changes between the head and the base"},
     "answered 422: Invalid PullRequest: There are no changes"),
])
async def test_an_api_refusal_fails_the_landing_with_its_message_and_no_token(
        tmp_path: Path, agents: FakeAgents, nursery: trio.Nursery, forge: str, status: int, body: dict[str, Any],
        message: str) -> None:
    server: ForgeServer = await nursery.start(STANDINS[forge]().serve)
    server.fail = (status, body | {"token_echo": server.token})
    async with serving(forge_settings(tmp_path, agents, forge, server)) as hub:
        project, _, bare = await git_project(hub, tmp_path)
        await three_nodes_and_land(hub, project["id"], {"mode": "pull_request", "forge": forge})
        run = await hub.wait_run(await hub.launch(project["id"]))
        assert run["status"] == "failed" and run["landed"] is None
        ship = by_node(run)["ship"]
        assert ship["status"] == "failed" and message in ship["error"] and server.token not in ship["error"]
        assert ("GitLab API" if forge == "gitlab" else "Gitea API") in ship["error"]
        events = str(await hub.events(ship["id"]))
        assert message in events and server.token not in events
        branch = f"orchestra/{project['id']}/{run['id']}"
        assert git(bare, "rev-parse", f"refs/heads/{branch}")  # the branch stays, to land again
        retry = await hub.post(f"/runs/{run['id']}/land")
        assert retry.status_code == 409 and message in retry.text and server.token not in retry.text


async def test_a_forge_the_hub_is_not_configured_for_is_refused_and_nothing_is_pushed(
        tmp_path: Path, agents: FakeAgents, nursery: trio.Nursery) -> None:
    gitea: GiteaServer = await nursery.start(GiteaServer().serve)
    async with serving(make_settings(tmp_path, agents, gitea_token=gitea.token)) as hub:  # no ORCHESTRA_GITEA_API
        project, _, bare = await git_project(hub, tmp_path)
        await three_nodes_and_land(hub, project["id"], {"mode": "pull_request", "forge": "gitea"})
        run = await hub.wait_run(await hub.launch(project["id"]))
        error = by_node(run)["ship"]["error"]
        assert run["status"] == "failed" and "ORCHESTRA_GITEA_API" in error and "self-hosted" in error, error
        refused = await hub.post(f"/runs/{run['id']}/land")
        assert refused.status_code == 422 and "ORCHESTRA_GITEA_API" in refused.json()["error"]["message"]
        assert "ORCHESTRA_GITEA_TOKEN" not in refused.json()["error"]["message"]  # the token is there
    async with serving(make_settings(tmp_path, agents, gitea_api=gitea.url)) as hub:  # the API, no token
        refused = await hub.post(f"/runs/{run['id']}/land")
        assert refused.status_code == 422
        assert "a Gitea pull request needs a Gitea token in ORCHESTRA_GITEA_TOKEN" in refused.json()["error"]["message"]
        await hub.patch(f"/projects/{project['id']}/nodes/ship", {"land": {"mode": "pull_request", "forge": "gitlab"}})
        refused = await hub.post(f"/runs/{run['id']}/land")
        assert refused.status_code == 422
        assert "a GitLab merge request needs a GitLab token in ORCHESTRA_GITLAB_TOKEN" in refused.text
        assert (await hub.get(f"/runs/{run['id']}")).json()["landed"] is None
    assert refs(bare) == "" and gitea.requests == []  # nothing pushed, the API never called


async def test_forge_on_a_mode_other_than_pull_request_is_a_422_that_changes_nothing(hub: LiveHub,
                                                                                     tmp_path: Path) -> None:
    project, _, _ = await git_project(hub, tmp_path)
    pid = project["id"]
    await hub.create_node(pid, id="a")
    await hub.create_node(pid, id="ship", kind="land", agent=None, land={"mode": "push"}, depends_on=["a"])
    before = (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]
    for land in ({"mode": "merge", "forge": "gitlab"}, {"mode": "push", "forge": "github"}):
        created = await hub.post(f"/projects/{pid}/nodes", {"id": "x", "title": "t", "kind": "land", "land": land})
        assert created.status_code == 422, created.text
        message = created.json()["error"]["message"]
        assert "'land.forge'" in message and f"mode '{land['mode']}' has no 'forge'" in message, message
        patched = await hub.patch(f"/projects/{pid}/nodes/ship", {"land": land})
        assert patched.status_code == 422 and "'land.forge'" in patched.text
    unknown = await hub.post(f"/projects/{pid}/nodes", {"id": "x", "title": "t", "kind": "land",
                                                         "land": {"mode": "pull_request", "forge": "bitbucket"}})
    assert unknown.status_code == 422 and "'land.forge'" in unknown.text
    assert (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"] == before
    allowed = await hub.patch(f"/projects/{pid}/nodes/ship", {"land": {"mode": "pull_request", "forge": "gitea"}})
    assert allowed.status_code == 200 and allowed.json()["land"] == {"mode": "pull_request", "forge": "gitea"}


async def test_the_forge_tokens_never_reach_an_agent(tmp_path: Path, agents: FakeAgents,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = {"ORCHESTRA_GITHUB_TOKEN": "gh-secret-1", "ORCHESTRA_GITLAB_TOKEN": "gl-secret-2",
              "ORCHESTRA_GITEA_TOKEN": "gt-secret-3"}
    for name, value in tokens.items():
        monkeypatch.setenv(name, value)
    settings = make_settings(tmp_path, agents)
    assert (settings.github_token, settings.gitlab_token, settings.gitea_token) == tuple(tokens.values())
    assert not any(value in repr(settings) for value in tokens.values())
    async with serving(settings) as hub:
        project = await hub.create_project()
        await hub.create_node(project["id"], id="a")
        run = await hub.wait_run(await hub.launch(project["id"]))
        assert run["status"] == "succeeded", run
        (record,) = agents.recorded()
        assert not any(value in str(record["env"]) for value in tokens.values())
        template = {"id": "leaky", "name": "Leaky", "command": ["echo", "{prompt}"], "output": "text",
                    "env_passthrough": ["ORCHESTRA_GITLAB_TOKEN"]}
        refused = await hub.post("/agent-templates", template)
        assert refused.status_code == 422 and "ORCHESTRA_*" in refused.text


def test_a_forge_api_that_is_no_url_stops_the_start_naming_the_variable() -> None:
    from orchestra.core.settings import ConfigError

    with pytest.raises(ConfigError, match="ORCHESTRA_GITEA_API"):
        load_settings(gitea_api="gitea.example")
    with pytest.raises(ConfigError, match="ORCHESTRA_GITLAB_API"):
        load_settings(gitlab_api="ftp://gitlab.example")


def test_a_gitlab_landing_reads_as_a_merge_request_and_the_others_as_pull_requests() -> None:
    from orchestra.core.landed import landed_text
    from orchestra.runtime.notifications import run_finished_message

    landed = {"mode": "pull_request", "forge": "gitlab", "branch": "orchestra/prj_1/run_1", "commit": "a" * 40,
              "url": "https://gitlab.example/acme/widgets/-/merge_requests/7", "number": 7, "landed_at": 12.0}
    run = {"id": "run_1", "project_id": "prj_1", "status": "succeeded", "created_at": 0.0, "started_at": 0.0,
           "finished_at": 12.0, "totals": {"cost_usd": 0.5}, "error": None, "landed": landed}
    body = run_finished_message(run, "shop", "http://localhost:8000/ui/#project=prj_1").body
    assert "Landed: merge request !7 https://gitlab.example/acme/widgets/-/merge_requests/7 (orchestra/prj_1/run_1 " \
        "at aaaaaaaaaaaa)" in body
    for forge in ("gitea", "github", None):
        assert landed_text(landed | {"forge": forge}).startswith("pull request #7 ")
