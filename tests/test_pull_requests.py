"""The pull-request client (orchestra/workspaces/pull_requests.py) against the loopback GitHub stand-in."""

from __future__ import annotations

import pytest
import trio
from github_server import GitHubServer

from orchestra.workspaces import pull_requests
from orchestra.workspaces.pull_requests import PullRequestError


async def test_opens_then_updates_the_pull_request_of_a_branch(nursery: trio.Nursery) -> None:
    server: GitHubServer = await nursery.start(GitHubServer().serve)
    opened = await pull_requests.open_or_update(server.url, server.token, "acme/widgets", "orchestra/p/r1", "main",
                                                "Title 1", "Body 1")
    assert opened == pull_requests.PullRequest(1, "https://github.example/acme/widgets/pull/1", created=True)
    post = server.requests[-1]
    assert (post.method, post.path) == ("POST", "/repos/acme/widgets/pulls")
    assert post.body == {"title": "Title 1", "body": "Body 1", "head": "orchestra/p/r1", "base": "main"}
    assert post.authorization == f"Bearer {server.token}"
    again = await pull_requests.open_or_update(server.url, server.token, "acme/widgets", "orchestra/p/r1", "main",
                                               "Title 2", "Body 2")
    assert again == pull_requests.PullRequest(1, opened.url, created=False)
    assert [(r.method, r.path) for r in server.requests[-2:]] == [
        ("GET", "/repos/acme/widgets/pulls"), ("PATCH", "/repos/acme/widgets/pulls/1")]
    assert server.requests[-2].query == {"head": "acme:orchestra/p/r1", "state": "open"}
    assert len(server.pulls) == 1 and server.pulls[1]["title"] == "Title 2"


@pytest.mark.parametrize(("status", "body", "expected"), [
    (401, {"message": "Bad credentials"}, "answered 401: Bad credentials"),
    (422, {"message": "Validation Failed", "errors": [{"message": "No commits between main and x"}]},
     "answered 422: Validation Failed; No commits between main and x"),
])
async def test_an_api_refusal_is_the_message_without_the_token(nursery: trio.Nursery, status: int,
                                                               body: dict[str, object], expected: str) -> None:
    server: GitHubServer = await nursery.start(GitHubServer().serve)
    server.fail = (status, body | {"echo": server.token})
    with pytest.raises(PullRequestError) as caught:
        await pull_requests.open_or_update(server.url, server.token, "acme/widgets", "x", "main", "t", "b")
    assert expected in str(caught.value) and server.token not in str(caught.value)


async def test_an_unreachable_api_is_a_pull_request_error() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()  # nobody listens there now
    with pytest.raises(PullRequestError, match="ConnectError"):
        await pull_requests.open_or_update(f"http://127.0.0.1:{port}", "tok", "a/b", "x", "main", "t", "b")


@pytest.mark.parametrize(("url", "slug"), [
    ("https://github.com/acme/widgets.git", "acme/widgets"), ("git@github.com:acme/widgets.git", "acme/widgets"),
    ("file:///srv/git/acme/widgets.git", "acme/widgets"), ("https://x:tok@ghe.corp/acme/widgets", "acme/widgets"),
])
def test_repository_slug_from_a_remote_url(url: str, slug: str) -> None:
    assert pull_requests.repository_slug(url) == slug


def test_a_remote_url_without_owner_and_name_is_refused() -> None:
    with pytest.raises(PullRequestError, match="cannot tell the repository"):
        pull_requests.repository_slug("file:///widgets.git")


async def test_an_open_pull_request_of_another_branch_is_not_updated(nursery: trio.Nursery) -> None:
    server: GitHubServer = await nursery.start(GitHubServer(ignore_head_filter=True).serve)
    await pull_requests.open_or_update(server.url, server.token, "acme/widgets", "other", "main", "Other", "b")
    mine = await pull_requests.open_or_update(server.url, server.token, "acme/widgets", "mine", "main", "Mine", "b")
    assert mine.created and mine.number == 2 and server.pulls[1]["title"] == "Other"
