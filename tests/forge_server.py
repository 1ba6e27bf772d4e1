"""Stand-ins for the forges' pull-request APIs, on loopback only, for landing tests: GitHub's, Gitea's and
GitLab's (merge requests), each speaking the three endpoints the hub uses (orchestra/workspaces/pull_requests.py).

:class:`ForgeServer` is the shared skeleton: an HTTP/1.1 server (h11 on a trio listener) that records every
request (``requests``: method, raw path — still percent-encoded, as the client sent it — query, the
authentication header, JSON body), checks the token, answers ``fail`` (a status and body) to everything when
set (``fail_writes``: to every write), as a forge does for a bad token (401) or a refused request (422), and
keeps the requests it opened (``pulls``). Each forge is a subclass: where its API lives (``prefix``), how it
authenticates, its routes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, unquote, urlsplit

import h11
import trio
from loopback_http import serve_loopback

Answer = tuple[int, Any]


@dataclass
class Recorded:
    method: str
    path: str  # without the API's prefix, percent-encoding kept
    query: dict[str, str]
    authorization: str | None  # the header the forge authenticates with
    body: Any


@dataclass
class ForgeServer:
    """``await nursery.start(server.serve)``; then ``server.url`` is the API's base URL."""

    prefix: ClassVar[str] = ""  # the API's path under the host (GitLab's /api/v4, Gitea's /api/v1)
    auth_header: ClassVar[str] = "authorization"

    token: str = "forge_standin_token_123"
    requests: list[Recorded] = field(default_factory=list)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    fail: Answer | None = None
    fail_writes: Answer | None = None  # the same, for everything but GET (a refused open or update)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def authorized(self, credential: str | None) -> bool:
        raise NotImplementedError

    def unauthorized(self) -> Answer:
        return 401, {"message": "401 Unauthorized"}

    def route(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> Answer:
        """``parts``: the path under ``prefix`` split on "/" before decoding (an encoded "/" stays in its part)."""
        raise NotImplementedError

    async def serve(self, *, task_status: trio.TaskStatus[Self] = trio.TASK_STATUS_IGNORED) -> None:
        await serve_loopback(self, self._respond, task_status)

    async def _respond(self, stream: trio.SocketStream, conn: h11.Connection, request: h11.Request,
                       body: bytes) -> None:
        status, answer = self._answer(request, body)
        data = json.dumps(answer).encode()
        await stream.send_all(conn.send(h11.Response(status_code=status, headers=[
            ("content-type", "application/json"), ("content-length", str(len(data)))])))
        await stream.send_all(conn.send(h11.Data(data=data)))
        await stream.send_all(conn.send(h11.EndOfMessage()))

    def _answer(self, request: h11.Request, body: bytes) -> Answer:
        target = urlsplit(request.target.decode())
        headers = {name.decode().lower(): value.decode() for name, value in request.headers}
        parsed = json.loads(body) if body else None
        query = {key: values[-1] for key, values in parse_qs(target.query).items()}
        method, credential = request.method.decode(), headers.get(self.auth_header)
        if not target.path.startswith(self.prefix + "/"):
            return 404, {"message": "404 Not Found"}
        path = target.path[len(self.prefix):]
        self.requests.append(Recorded(method, path, query, credential, parsed))
        if self.fail is not None:
            return self.fail
        if self.fail_writes is not None and method != "GET":
            return self.fail_writes
        if not self.authorized(credential):
            return self.unauthorized()
        return self.route(method, path.strip("/").split("/"), query, parsed)


@dataclass
class GitHubServer(ForgeServer):
    """GitHub's REST API: ``/repos/{o}/{r}/pulls`` (``?head=o:branch``), bearer token."""

    ignore_head_filter: bool = False  # list every open pull request, as a server without ?head= support would

    def authorized(self, credential: str | None) -> bool:
        return credential == f"Bearer {self.token}"

    def unauthorized(self) -> Answer:
        return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}

    def route(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> Answer:
        head = query.get("head", "")
        return _pulls(self, method, parts, body, "https://github.example",
                      lambda owner, pull: self.ignore_head_filter or f"{owner}:{pull['head']['ref']}" == head)


@dataclass
class GiteaServer(ForgeServer):
    """Gitea's API v1: GitHub's paths under ``/api/v1``, ``Authorization: token …``, no head filter (a
    ``?head=`` is ignored, as Gitea does), ``limit``/``page`` paging."""

    prefix: ClassVar[str] = "/api/v1"

    def authorized(self, credential: str | None) -> bool:
        return credential == f"token {self.token}"

    def unauthorized(self) -> Answer:
        return 401, {"message": "token is required", "url": "https://gitea.example/api/swagger"}

    def route(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> Answer:
        status, answer = _pulls(self, method, parts, body, "https://gitea.example", lambda owner, pull: True)
        if method == "GET" and status == 200:
            limit, page = int(query.get("limit", "30")), int(query.get("page", "1"))
            answer = answer[(page - 1) * limit:page * limit]
        return status, answer


def _pulls(server: ForgeServer, method: str, parts: list[str], body: Any, web: str, listed: Any) -> Answer:
    """GitHub's and Gitea's ``/repos/{o}/{r}/pulls[/{n}]``: list (``listed(owner, pull)`` filters), open, update."""
    if len(parts) < 4 or parts[0] != "repos" or parts[3] != "pulls":
        return 404, {"message": "Not Found"}
    slug = f"{parts[1]}/{parts[2]}"
    if method == "GET" and len(parts) == 4:
        return 200, [pull for pull in server.pulls.values() if pull["repo"] == slug and pull["state"] == "open"
                     and listed(parts[1], pull)]
    if method == "POST" and len(parts) == 4:
        if not body.get("title") or not body.get("head") or not body.get("base"):
            return 422, {"message": "Validation Failed", "errors": [{"resource": "PullRequest",
                                                                    "code": "missing_field"}]}
        number = len(server.pulls) + 1
        server.pulls[number] = {
            "number": number, "state": "open", "repo": slug, "title": body["title"], "body": body.get("body"),
            "head": {"ref": body["head"], "repo": {"full_name": slug}}, "base": {"ref": body["base"]},
            "html_url": f"{web}/{slug}/pull/{number}"}
        return 201, server.pulls[number]
    if method == "PATCH" and len(parts) == 5 and parts[4].isdigit() and int(parts[4]) in server.pulls:
        pull = server.pulls[int(parts[4])]
        pull.update({key: body[key] for key in ("title", "body") if key in body})
        if "base" in body:
            pull["base"] = {"ref": body["base"]}
        return 200, pull
    return 404, {"message": "Not Found"}


@dataclass
class GitLabServer(ForgeServer):
    """GitLab's API v4: ``/projects/{id}/merge_requests[/{iid}]`` where ``id`` is the project's full path
    URL-encoded (one path segment: an unencoded nested path is a 404, as on GitLab), ``PRIVATE-TOKEN``."""

    prefix: ClassVar[str] = "/api/v4"
    auth_header: ClassVar[str] = "private-token"

    def authorized(self, credential: str | None) -> bool:
        return credential == self.token

    def route(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> Answer:
        if len(parts) < 3 or parts[0] != "projects" or parts[2] != "merge_requests":
            return 404, {"message": "404 Project Not Found"}
        project = unquote(parts[1])
        if method == "GET" and len(parts) == 3:
            return 200, [mr for mr in self.pulls.values() if mr["project"] == project
                         and mr["state"] == query.get("state", mr["state"])
                         and mr["source_branch"] == query.get("source_branch", mr["source_branch"])]
        if method == "POST" and len(parts) == 3:
            if not body.get("title"):
                return 400, {"error": "title is missing"}
            if any(mr["project"] == project and mr["state"] == "opened" and mr["source_branch"] == body.get(
                    "source_branch") for mr in self.pulls.values()):
                return 409, {"message": ["Another open merge request already exists for this source branch: !1"]}
            iid = len(self.pulls) + 1
            self.pulls[iid] = {
                "id": 1000 + iid, "iid": iid, "project": project, "state": "opened", "title": body["title"],
                "description": body.get("description"), "source_branch": body.get("source_branch"),
                "target_branch": body.get("target_branch"),
                "web_url": f"https://gitlab.example/{project}/-/merge_requests/{iid}"}
            return 201, self.pulls[iid]
        if method == "PUT" and len(parts) == 4 and parts[3].isdigit() and int(parts[3]) in self.pulls:
            mr = self.pulls[int(parts[3])]
            mr.update({key: body[key] for key in ("title", "description", "target_branch") if key in body})
            return 200, mr
        return 404, {"message": "404 Not found"}
