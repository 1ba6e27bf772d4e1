"""A stand-in for the GitHub REST API's pull-request endpoints, on loopback only, for landing tests.

It speaks the three endpoints the hub uses (orchestra/workspaces/pull_requests.py): list a head branch's
open pull requests, open one (201), update one; it checks the bearer token, records every request
(``GitHubServer.requests``: method, path, query, authorization header, JSON body), and keeps the pull
requests it opened (``pulls``). ``fail`` makes every request answer that status and body, as GitHub does
for a bad token (401) or a refused pull request (422).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11
import trio


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: Any


@dataclass
class GitHubServer:
    """``await nursery.start(server.serve)``; then ``server.url`` is the API's base URL."""

    token: str = "ghp_standin_token_123"
    requests: list[Recorded] = field(default_factory=list)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    fail: tuple[int, dict[str, Any]] | None = None
    ignore_head_filter: bool = False  # list every open pull request, as a server without ?head= support would
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, *, task_status: trio.TaskStatus[GitHubServer] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self._connection, listeners)
            task_status.started(self)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = None, bytearray()
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive_some(1 << 16))
                    elif isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    else:
                        return
                assert request is not None
                status, answer = self._answer(request, bytes(body))
                data = json.dumps(answer).encode()
                await stream.send_all(conn.send(h11.Response(status_code=status, headers=[
                    ("content-type", "application/json"), ("content-length", str(len(data)))])))
                await stream.send_all(conn.send(h11.Data(data=data)))
                await stream.send_all(conn.send(h11.EndOfMessage()))
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return
        finally:
            await stream.aclose()

    def _answer(self, request: h11.Request, body: bytes) -> tuple[int, Any]:
        target = urlsplit(request.target.decode())
        headers = {name.decode().lower(): value.decode() for name, value in request.headers}
        parsed = json.loads(body) if body else None
        query = {key: values[-1] for key, values in parse_qs(target.query).items()}
        self.requests.append(Recorded(request.method.decode(), target.path, query, headers.get("authorization"),
                                      parsed))
        if self.fail is not None:
            return self.fail
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        parts = target.path.strip("/").split("/")  # repos / owner / name / pulls [/ number]
        if len(parts) < 4 or parts[0] != "repos" or parts[3] != "pulls":
            return 404, {"message": "Not Found"}
        slug, method = f"{parts[1]}/{parts[2]}", request.method.decode()
        if method == "GET" and len(parts) == 4:
            head = query.get("head", "")
            return 200, [pull for pull in self.pulls.values() if pull["repo"] == slug and pull["state"] == "open"
                         and (self.ignore_head_filter or f"{parts[1]}:{pull['head']['ref']}" == head)]
        if method == "POST" and len(parts) == 4:
            if not parsed.get("title") or not parsed.get("head") or not parsed.get("base"):
                return 422, {"message": "Validation Failed", "errors": [{"resource": "PullRequest",
                                                                        "code": "missing_field"}]}
            number = len(self.pulls) + 1
            self.pulls[number] = {
                "number": number, "state": "open", "repo": slug, "title": parsed["title"], "body": parsed.get("body"),
                "head": {"ref": parsed["head"]}, "base": {"ref": parsed["base"]},
                "html_url": f"https://github.example/{slug}/pull/{number}"}
            return 201, self.pulls[number]
        if method == "PATCH" and len(parts) == 5 and parts[4].isdigit() and int(parts[4]) in self.pulls:
            pull = self.pulls[int(parts[4])]
            pull.update({key: parsed[key] for key in ("title", "body") if key in parsed})
            if "base" in parsed:
                pull["base"] = {"ref": parsed["base"]}
            return 200, pull
        return 404, {"message": "Not Found"}
