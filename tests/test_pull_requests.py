"""The pull-request client (orchestra/workspaces/pull_requests.py) against the loopback stand-ins of GitHub,
Gitea and GitLab (tests/forge_server.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from forge_server import ForgeServer, GiteaServer, GitHubServer, GitLabServer

from orchestra.core.settings import Settings
from orchestra.workspaces import pull_requests
from orchestra.workspaces.landing import LandingMisconfigured
from orchestra.workspaces.pull_requests import Access, PullRequest, PullRequestError


def github_access(server: ForgeServer) -> Access:
    return Access("github", server.url, server.token)


async def test_opens_then_updates_the_pull_request_of_a_branch(nursery: trio.Nursery) -> None:
    server: GitHubServer = await nursery.start(GitHubServer().serve)
    opened = await pull_requests.open_or_update(github_access(server), "acme/widgets", "orchestra/p/r1", "main",
                                                "Title 1", "Body 1")
    assert opened == PullRequest(1, "https://github.example/acme/widgets/pull/1", created=True)
    post = server.requests[-1]
    assert (post.method, post.path) == ("POST", "/repos/acme/widgets/pulls")
    assert post.body == {"title": "Title 1", "body": "Body 1", "head": "orchestra/p/r1", "base": "main"}
    assert post.authorization == f"Bearer {server.token}"
    again = await pull_requests.open_or_update(github_access(server), "acme/widgets", "orchestra/p/r1", "main",
                                               "Title 2", "Body 2")
    assert again == PullRequest(1, opened.url, created=False)
    assert [(r.method, r.path) for r in server.requests[-2:]] == [
        ("GET", "/repos/acme/widgets/pulls"), ("PATCH", "/repos/acme/widgets/pulls/1")]
    assert server.requests[-2].query == {"head": "acme:orchestra/p/r1", "state": "open"}
    assert len(server.pulls) == 1 and server.pulls[1]["title"] == "Title 2"


async def test_gitea_opens_then_updates_finding_the_branch_among_open_pull_requests(nursery: trio.Nursery) -> None:
    server: GiteaServer = await nursery.start(GiteaServer().serve)
    access = Access("gitea", server.url, server.token)
    for i in range(60):  # more than a page of other branches' open pull requests
        await pull_requests.open_or_update(access, "acme/widgets", f"other-{i}", "main", f"Other {i}", "b")
    opened = await pull_requests.open_or_update(access, "acme/widgets", "orchestra/p/r1", "main", "Title 1", "Body 1")
    assert opened == PullRequest(61, "https://gitea.example/acme/widgets/pull/61", created=True)
    post = server.requests[-1]
    assert (post.method, post.path) == ("POST", "/repos/acme/widgets/pulls")
    assert post.authorization == f"token {server.token}"
    assert post.body == {"title": "Title 1", "body": "Body 1", "head": "orchestra/p/r1", "base": "main"}
    server.requests.clear()
    again = await pull_requests.open_or_update(access, "acme/widgets", "orchestra/p/r1", "develop", "Title 2", "Body 2")
    assert again == PullRequest(61, opened.url, created=False)
    assert [(r.method, r.query.get("page")) for r in server.requests] == [("GET", "1"), ("GET", "2"), ("PATCH", None)]
    assert server.requests[0].query == {"state": "open", "limit": "50", "page": "1"}
    assert server.requests[-1].path == "/repos/acme/widgets/pulls/61"
    assert server.requests[-1].body == {"title": "Title 2", "body": "Body 2", "base": "develop"}
    assert len(server.pulls) == 61 and server.pulls[61]["title"] == "Title 2"
    assert server.pulls[61]["base"]["ref"] == "develop"


async def test_gitea_does_not_update_a_forks_pull_request_of_the_same_branch_name(nursery: trio.Nursery) -> None:
    server: GiteaServer = await nursery.start(GiteaServer().serve)
    access = Access("gitea", server.url, server.token)
    fork = await pull_requests.open_or_update(access, "acme/widgets", "feature", "main", "Fork's", "b")
    server.pulls[fork.number]["head"]["repo"] = {"full_name": "someone/widgets"}
    mine = await pull_requests.open_or_update(access, "acme/widgets", "feature", "main", "Mine", "b")
    assert mine.created and mine.number == 2 and server.pulls[1]["title"] == "Fork's"


async def test_gitlab_opens_then_updates_the_merge_request_of_a_nested_group_project(nursery: trio.Nursery) -> None:
    server: GitLabServer = await nursery.start(GitLabServer().serve)
    access = Access("gitlab", server.url, server.token)
    opened = await pull_requests.open_or_update(access, "acme/platform/tools/widgets", "orchestra/p/r1", "main",
                                                "Title 1", "Body 1")
    assert opened == PullRequest(1, "https://gitlab.example/acme/platform/tools/widgets/-/merge_requests/1",
                                 created=True)
    listed, post = server.requests
    assert (listed.method, listed.path) == ("GET", "/projects/acme%2Fplatform%2Ftools%2Fwidgets/merge_requests")
    assert listed.query == {"source_branch": "orchestra/p/r1", "state": "opened"}
    assert (post.method, post.path, post.authorization) == (
        "POST", "/projects/acme%2Fplatform%2Ftools%2Fwidgets/merge_requests", server.token)
    assert post.body == {"title": "Title 1", "description": "Body 1", "source_branch": "orchestra/p/r1",
                         "target_branch": "main"}
    again = await pull_requests.open_or_update(access, "acme/platform/tools/widgets", "orchestra/p/r1", "develop",
                                               "Title 2", "Body 2")
    assert again == PullRequest(1, opened.url, created=False)
    put = server.requests[-1]
    assert (put.method, put.path) == ("PUT", "/projects/acme%2Fplatform%2Ftools%2Fwidgets/merge_requests/1")
    assert put.body == {"title": "Title 2", "description": "Body 2", "target_branch": "develop"}
    assert len(server.pulls) == 1 and server.pulls[1]["description"] == "Body 2"


@pytest.mark.parametrize(("forge", "status", "body", "expected"), [
    ("github", 401, {"message": "Bad credentials"}, "GitHub API: POST /repos/acme/widgets/pulls answered 401: Bad "
     "credentials"),
    ("github", 422, {"message": "Validation Failed", "errors": [{"message": "No commits between main and x"}]},
     "answered 422: Validation Failed; No commits between main and x"),
    ("gitea", 422, {"message": "Invalid PullRequest: There are no changes between the head and the base"},
     "Gitea API: POST /repos/acme/widgets/pulls answered 422: Invalid PullRequest: There are no changes"),
    ("gitlab", 401, {"message": "401 Unauthorized"}, "GitLab API: POST /projects/acme%2Fwidgets/merge_requests "
     "answered 401: 401 Unauthorized"),
    ("gitlab", 422, {"message": {"target_branch": ["does not exist"], "base": ["Validation failed"]}},
     "answered 422: target_branch: does not exist; base: Validation failed"),
    ("gitlab", 409, {"message": ["Another open merge request already exists for this source branch: !4"]},
     "answered 409: Another open merge request already exists for this source branch: !4"),
    ("gitlab", 400, {"error": "title is missing"}, "answered 400: title is missing"),
])
async def test_an_api_refusal_is_the_message_without_the_token(nursery: trio.Nursery, forge: str, status: int,
                                                               body: dict[str, object], expected: str) -> None:
    server: ForgeServer = await nursery.start(
        {"github": GitHubServer, "gitea": GiteaServer, "gitlab": GitLabServer}[forge]().serve)
    server.fail_writes = (status, body | {"echo": server.token, "url": f"https://user:{server.token}@example/x"})
    access = Access(forge, server.url, server.token)  # type: ignore[arg-type]
    with pytest.raises(PullRequestError) as caught:
        await pull_requests.open_or_update(access, "acme/widgets", "x", "main", "t", "b")
    assert expected in str(caught.value) and server.token not in str(caught.value)


async def test_an_unreachable_api_is_a_pull_request_error() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()  # nobody listens there now
    for forge in ("github", "gitlab", "gitea"):
        with pytest.raises(PullRequestError, match="ConnectError"):
            await pull_requests.open_or_update(Access(forge, f"http://127.0.0.1:{port}", "tok"),  # type: ignore[arg-type]
                                               "a/b", "x", "main", "t", "b")


@pytest.mark.parametrize(("url", "slug", "project"), [
    ("https://github.com/acme/widgets.git", "acme/widgets", "acme/widgets"),
    ("git@github.com:acme/widgets.git", "acme/widgets", "acme/widgets"),
    ("file:///srv/git/acme/widgets.git", "acme/widgets", "srv/git/acme/widgets"),
    ("https://x:tok@ghe.corp/acme/widgets", "acme/widgets", "acme/widgets"),
    ("https://gitlab.com/acme/platform/tools/widgets.git", "tools/widgets", "acme/platform/tools/widgets"),
    ("git@gitlab.com:acme/platform/widgets.git", "platform/widgets", "acme/platform/widgets"),
    ("ssh://git@gitlab.corp:2222/acme/platform/widgets.git/", "platform/widgets", "acme/platform/widgets"),
])
def test_repository_path_from_a_remote_url(url: str, slug: str, project: str) -> None:
    assert pull_requests.repository_path(url) == pull_requests.repository_path(url, "gitea") == slug
    assert pull_requests.repository_path(url, "gitlab") == project


@pytest.mark.parametrize(("url", "api", "project"), [
    ("https://code.corp/gitlab/acme/platform/widgets.git", "https://code.corp/gitlab/api/v4", "acme/platform/widgets"),
    ("git@code.corp:acme/platform/widgets.git", "https://code.corp/gitlab/api/v4", "acme/platform/widgets"),
    ("https://gitlab.com/gitlab/widgets.git", "https://gitlab.com/api/v4", "gitlab/widgets"),
])
def test_a_gitlab_under_a_relative_url_root_is_not_part_of_the_project_path(url: str, api: str, project: str) -> None:
    assert pull_requests.repository_path(url, "gitlab", api) == project


def test_a_remote_url_without_owner_and_name_is_refused() -> None:
    with pytest.raises(PullRequestError, match="cannot tell the repository"):
        pull_requests.repository_path("file:///widgets.git", "gitlab")


async def test_an_open_pull_request_of_another_branch_is_not_updated(nursery: trio.Nursery) -> None:
    server: GitHubServer = await nursery.start(GitHubServer(ignore_head_filter=True).serve)
    await pull_requests.open_or_update(github_access(server), "acme/widgets", "other", "main", "Other", "b")
    mine = await pull_requests.open_or_update(github_access(server), "acme/widgets", "mine", "main", "Mine", "b")
    assert mine.created and mine.number == 2 and server.pulls[1]["title"] == "Other"


def test_access_names_what_the_hub_lacks_for_each_forge(tmp_path: Path) -> None:
    bare = Settings(database_url=f"sqlite:///{tmp_path}/o.db", github_token=None, gitlab_token=None,
                    gitea_token=None, gitea_api=None)
    for forge, needed in (("github", ["ORCHESTRA_GITHUB_TOKEN"]), (None, ["ORCHESTRA_GITHUB_TOKEN"]),
                          ("gitlab", ["ORCHESTRA_GITLAB_TOKEN"]),
                          ("gitea", ["ORCHESTRA_GITEA_API", "no default", "ORCHESTRA_GITEA_TOKEN"])):
        with pytest.raises(LandingMisconfigured) as caught:
            pull_requests.access(bare, forge)
        assert all(name in str(caught.value) for name in needed), caught.value
    with pytest.raises(LandingMisconfigured, match="a GitLab merge request needs"):
        pull_requests.access(bare, "gitlab")
    configured = Settings(database_url=f"sqlite:///{tmp_path}/o.db", github_token="gh-1", gitlab_token="gl-2",
                          gitea_token="gt-3", gitea_api="https://gitea.example/api/v1")
    gitea = pull_requests.access(configured, "gitea")
    assert (gitea.forge, gitea.api, gitea.token) == ("gitea", "https://gitea.example/api/v1", "gt-3")
    assert {"gh-1", "gl-2", "gt-3"} <= set(gitea.secrets)  # every token is redacted from its messages
    assert pull_requests.access(configured, "gitlab").api == "https://gitlab.com/api/v4"
    assert "gl-2" not in repr(configured) and "gt-3" not in repr(configured)
