"""Hostile and unusual HTTP and WebSocket input against the real server: the wire (raw sockets),
values JSON allows but the hub must not store, NUL characters, deep paths, and subscribers that stop
reading. Each test states what a client sent and what the hub must answer, and that nothing changed.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import h11
import pytest
import trio
from conftest import TOKEN, WAIT_S, LiveHub
from test_api_errors import assert_error, unchanged
from test_ws import FLOOD_WAIT_S, collect_until, run_finished, ws_url
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from orchestra.core.settings import Settings
from orchestra.server import Running, serve

# The gap between a request's headers and its body: httpx and browsers write them separately (two
# TCP segments; with Nagle and delayed ACKs, some 40 ms apart). A sleep here shapes the input; it
# synchronizes nothing.
BODY_GAP_S = 0.05


class RawHTTP:
    """One HTTP/1.1 connection driven by hand: headers and body as separate writes, h11 to parse."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, port: int) -> RawHTTP:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def send_headers(self, method: str, path: str, headers: dict[str, str], body_length: int | None) -> None:
        fields = [("Host", "127.0.0.1"), *headers.items()]
        if body_length is not None:
            fields.append(("Content-Length", str(body_length)))
        await self.stream.send_all(self.h11.send(h11.Request(method=method, target=path, headers=fields)))

    async def send_body(self, body: bytes) -> None:
        await self.stream.send_all(self.h11.send(h11.Data(data=body)) + self.h11.send(h11.EndOfMessage()))

    async def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                      gap: float = BODY_GAP_S) -> tuple[int, dict[str, str], bytes]:
        """Send the headers, wait ``gap``, send the body (if any), and read the whole answer."""
        await self.send_headers(method, path, headers or {}, None if body is None else len(body))
        if body is not None:
            await trio.sleep(gap)
            await self.send_body(body)
        else:
            await self.stream.send_all(self.h11.send(h11.EndOfMessage()))
        return await self.response()

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = 0, {}, b""
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self.stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, headers, body
            else:
                raise AssertionError(f"unexpected {event!r}")

    def next_cycle(self) -> None:
        """Ready the client side for the next request on this connection (once both sides are done)."""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()

    async def closed_by_server(self) -> bool:
        """Whether the server closed its side: a read returns end-of-file (or a reset)."""
        try:
            return await self.stream.receive_some(65536) == b""
        except trio.BrokenResourceError:
            return True

    async def aclose(self) -> None:
        await self.stream.aclose()


def error_code(body: bytes) -> str:
    parsed = json.loads(body)
    assert set(parsed["error"]) == {"code", "message", "details"}
    return parsed["error"]["code"]


AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
WRONG = {"Authorization": "Bearer wrong-token-0123456789", "Content-Type": "application/json"}

# Answers given before (or without) reading the request body. /agent-templates/check runs every
# template's CLI first, so its body comes later: after the answer is ready.
EARLY_ANSWERS = [
    pytest.param("POST", "/projects", WRONG, 401, "unauthorized", BODY_GAP_S, id="401-wrong-token"),
    pytest.param("DELETE", "/agent-templates", AUTH, 405, "method_not_allowed", BODY_GAP_S, id="405"),
    pytest.param("POST", "/nope", AUTH, 404, "not_found", BODY_GAP_S, id="404-unknown-route"),
    pytest.param("POST", "/runs/run_x/cancel", AUTH, 404, "not_found", BODY_GAP_S, id="run-cancel"),
    pytest.param("POST", "/executions/exe_x/cancel", AUTH, 404, "not_found", BODY_GAP_S, id="execution-cancel"),
    pytest.param("POST", "/agent-templates/check", AUTH, 200, None, 1.0, id="templates-check"),
]


@pytest.mark.parametrize(("method", "path", "headers", "status", "code", "gap"), EARLY_ANSWERS)
async def test_keep_alive_connection_survives_an_answer_that_skipped_the_body(
    hub: LiveHub, method: str, path: str, headers: dict[str, str], status: int, code: str | None, gap: float
) -> None:
    async with unchanged(hub):
        conn = await RawHTTP.open(hub.running.port)
        try:
            first = await conn.request(method, path, b'{"name": "from a hostile client"}', headers, gap)
            assert first[0] == status, first
            if code is not None:
                assert error_code(first[2]) == code
            conn.next_cycle()
            with trio.fail_after(1):
                second = await conn.request("GET", "/health")
            assert second[0] == 200
            assert json.loads(second[2])["status"] == "ok"
        finally:
            await conn.aclose()


async def test_keep_alive_connection_survives_a_post_that_read_its_body(hub: LiveHub) -> None:
    """The ordinary case, the same way: the body arrives late and the route reads it."""
    conn = await RawHTTP.open(hub.running.port)
    try:
        status, _, body = await conn.request("POST", "/projects", b'{"name": "late body"}', AUTH)
        assert status == 201, body
        conn.next_cycle()
        with trio.fail_after(1):
            assert (await conn.request("GET", "/health"))[0] == 200
    finally:
        await conn.aclose()


async def test_oversized_body_is_413_and_the_connection_is_closed(hub: LiveHub) -> None:
    """The hub does not read a body beyond the limit: it answers 413 and closes the connection."""
    limit = hub.settings.max_body_bytes
    async with unchanged(hub):
        conn = await RawHTTP.open(hub.running.port)
        try:
            await conn.send_headers("POST", "/projects", AUTH, limit + 1)
            status, headers, body = await conn.response()
            assert status == 413
            assert error_code(body) == "payload_too_large"
            assert headers["connection"] == "close"
            with trio.fail_after(2):
                assert await conn.closed_by_server()
        finally:
            await conn.aclose()


async def test_body_that_never_arrives_still_gets_an_answer_and_a_close(
    hub: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers announce a body that never comes, on a route that would not read it: the hub waits
    for it a bounded time, answers, and closes the connection (it cannot serve another request)."""
    import orchestra.api

    monkeypatch.setattr(orchestra.api, "DRAIN_TIMEOUT_S", 0.2)
    conn = await RawHTTP.open(hub.running.port)
    try:
        await conn.send_headers("POST", "/projects", WRONG, 100)
        with trio.fail_after(2):
            status, headers, body = await conn.response()
            assert await conn.closed_by_server()
        assert status == 401
        assert error_code(body) == "unauthorized"
        assert headers["connection"] == "close"
    finally:
        await conn.aclose()


async def test_connection_close_is_honoured(hub: LiveHub) -> None:
    conn = await RawHTTP.open(hub.running.port)
    try:
        status, _, _ = await conn.request("GET", "/health", headers={"Connection": "close"})
        assert status == 200
        with trio.fail_after(2):
            assert await conn.closed_by_server()
    finally:
        await conn.aclose()


@pytest.fixture
async def short_keep_alive(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    """A hub whose idle keep-alive connections are closed after 0.3 s instead of the default."""
    import orchestra.server

    monkeypatch.setattr(orchestra.server, "KEEP_ALIVE_TIMEOUT_S", 0.3)
    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(partial(serve, settings, handle_signals=False))
        yield running
        running.stop.set()


async def test_idle_keep_alive_connection_is_closed_after_the_timeout(short_keep_alive: Running) -> None:
    conn = await RawHTTP.open(short_keep_alive.port)
    try:
        for _ in range(2):  # the timer starts again after each request
            conn.next_cycle()
            assert (await conn.request("GET", "/health"))[0] == 200
        with trio.fail_after(3):
            assert await conn.closed_by_server()
    finally:
        await conn.aclose()


# -- values JSON allows that the hub must not store ---------------------------------------------------


@pytest.fixture
async def project(hub: LiveHub) -> str:
    """A project with one agent node "a", for the routes below to refuse to change."""
    pid = (await hub.create_project(name="target"))["id"]
    await hub.create_node(pid, id="a")
    return pid


async def refused(hub: LiveHub, method: str, path: str, body: bytes | dict[str, Any], field: str) -> None:
    """``body`` is answered 422 naming ``field``, and no row changes."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with unchanged(hub):
        response = await hub.http.request(method, path, content=content,
                                          headers={"Content-Type": "application/json"})
        error = assert_error(response, 422, "validation_error", f"'{field}'")
    assert field in {".".join(map(str, d["loc"])) for d in error["details"]}, error


NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]
FLOAT_FIELDS = [  # (method, path template, body template with %s for the number, field)
    ("POST", "/projects/{pid}/nodes", '{"title":"t","agent":"claude-code","position":{"x":%s,"y":0}}', "position.x"),
    ("PATCH", "/projects/{pid}/nodes/a", '{"position":{"x":0,"y":%s}}', "position.y"),
    ("POST", "/projects/{pid}/nodes", '{"title":"t","agent":"claude-code","timeout_s":%s}', "timeout_s"),
    ("PATCH", "/projects/{pid}/nodes/a", '{"budget":{"cost_usd":%s}}', "budget.cost_usd"),
    ("POST", "/launch", '{"project_id":"{pid}","budget":{"wall_s":%s}}', "budget.wall_s"),
]


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize(("method", "path", "body", "field"), FLOAT_FIELDS,
                         ids=[f"{m}-{f}" for m, _, _, f in FLOAT_FIELDS])
async def test_non_finite_number_is_422_naming_the_field(
    hub: LiveHub, project: str, method: str, path: str, body: str, field: str, number: str
) -> None:
    await refused(hub, method, path.format(pid=project), (body % number).replace("{pid}", project).encode(), field)


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/projects/{pid}/nodes", '{"title":"t","agent":"claude-code","budget":{"tokens":1%s}}', "budget.tokens"),
    ("POST", "/launch", '{"project_id":"{pid}","budget":{"tokens":1%s}}', "budget.tokens"),
    ("PATCH", "/projects/{pid}/nodes/a", '{"position":{"x":1%s,"y":0}}', "position.x"),
    ("PATCH", "/projects/{pid}/nodes/a", '{"budget":{"cost_usd":1%s}}', "budget.cost_usd"),
], ids=["node-tokens", "launch-tokens", "position", "cost"])
@pytest.mark.parametrize("zeros", [19, 300, 1000], ids=["1e19", "1e300", "1e1000"])
async def test_absurd_number_is_422_naming_the_field(
    hub: LiveHub, project: str, method: str, path: str, body: str, field: str, zeros: int
) -> None:
    payload = (body % ("0" * zeros)).replace("{pid}", project).encode()
    await refused(hub, method, path.format(pid=project), payload, field)


async def test_a_stored_nan_is_a_500_never_invalid_json(hub: LiveHub, project: str) -> None:
    """Should a NaN ever reach the database (a bug, an old row), the hub refuses to serve it as JSON."""
    await hub.running.hub.db.write(lambda tx: tx.execute(
        "UPDATE nodes SET position = ? WHERE project_id = ? AND id = 'a'", ['{"x":NaN,"y":0}', project]))
    for path in (f"/projects/{project}/nodes/a", f"/projects/{project}/nodes"):
        assert_error(await hub.get(path), 500, "internal")
    async with open_websocket_url(ws_url(hub, project)) as ws:
        with trio.fail_after(WAIT_S), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    assert closed.value.reason.code == 1011


# -- NUL characters ----------------------------------------------------------------------------------------

NUL = "before\u0000after"


@pytest.fixture
async def execution(hub: LiveHub, project: str) -> str:
    """A finished execution of node "a" (follow-up and gate decisions name one)."""
    run = await hub.wait_run(await hub.launch(project))
    return run["executions"][0]["id"]


def nul_cases() -> list[Any]:
    template = {"id": "mine", "name": "Mine", "command": ["mine", "{prompt}"], "output": "text"}
    node = {"title": "t", "prompt": "p", "agent": "claude-code"}
    cases = [
        ("POST", "/projects", {"name": NUL}, "name"),
        ("POST", "/projects", {"name": "p", "description": NUL}, "description"),
        ("POST", "/projects", {"name": "p", "workspace": NUL}, "workspace"),
        ("PATCH", "/projects/{pid}", {"name": NUL}, "name"),
        ("PATCH", "/projects/{pid}", {"description": NUL}, "description"),
        ("PATCH", "/projects/{pid}", {"workspace": NUL}, "workspace"),
        ("POST", "/projects/{pid}/nodes", node | {"title": NUL}, "title"),
        ("POST", "/projects/{pid}/nodes", node | {"prompt": NUL}, "prompt"),
        ("POST", "/projects/{pid}/nodes", node | {"model": NUL}, "model"),
        ("PATCH", "/projects/{pid}/nodes/a", {"title": NUL}, "title"),
        ("PATCH", "/projects/{pid}/nodes/a", {"prompt": NUL}, "prompt"),
        ("PATCH", "/projects/{pid}/nodes/a", {"model": NUL}, "model"),
        ("POST", "/executions/{exe}/follow-up", {"prompt": NUL}, "prompt"),
        ("POST", "/executions/{exe}/approve", {"comment": NUL}, "comment"),
        ("POST", "/executions/{exe}/reject", {"comment": NUL}, "comment"),
        ("POST", "/agent-templates", template | {"name": NUL}, "name"),
        ("POST", "/agent-templates", template | {"command": ["mine", "{prompt}", NUL]}, "command"),
        ("POST", "/agent-templates", template | {"resume_command": ["mine", "{session_id}", "{prompt}", NUL]},
         "resume_command"),
        ("POST", "/agent-templates", template | {"default_model": NUL}, "default_model"),
        ("POST", "/agent-templates", template | {"env": {"KEY": NUL}}, "env"),
        ("POST", "/agent-templates", template | {"env": {NUL: "value"}}, "env"),
    ]
    return [pytest.param(*case, id=f"{case[0]}-{case[1]}-{case[3]}-{i}") for i, case in enumerate(cases)]


@pytest.mark.parametrize(("method", "path", "body", "field"), nul_cases())
async def test_nul_character_is_422_naming_the_field(
    hub: LiveHub, project: str, execution: str, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    await refused(hub, method, path.format(pid=project, exe=execution), body, field)


async def test_prompt_with_nul_cannot_reach_an_agent(hub: LiveHub, project: str) -> None:
    """The attack: a NUL prompt, then a launch. The node is refused; the project still runs."""
    await refused(hub, "POST", f"/projects/{project}/nodes",
                  {"id": "b", "title": "b", "prompt": NUL, "agent": "claude-code"}, "prompt")
    run = await hub.wait_run(await hub.launch(project))
    assert run["status"] == "succeeded"
    assert [e["node_id"] for e in run["executions"]] == ["a"]


# -- deep workspace paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("workspace", ["a/" * 1000, "a/" * 300, "/".join(["..", "a"] * 700)],
                         ids=["1000-levels", "300-levels", "dotdot"])
async def test_deep_workspace_path_is_422(hub: LiveHub, project: str, method: str, workspace: str) -> None:
    path = "/projects" if method == "POST" else f"/projects/{project}"
    body = {"name": "deep", "workspace": workspace} if method == "POST" else {"workspace": workspace}
    root = Path(hub.settings.workspaces)
    before = sorted(os.listdir(root))
    await refused(hub, method, path, body, "workspace")
    assert sorted(os.listdir(root)) == before


# -- WebSocket error paths ----------------------------------------------------------------------------------


def no_traceback_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


@pytest.mark.parametrize("path", ["/ws/nope", "/ws/subscribe/a/b", "/ws/subscribe/", "/health", "/projects", "/nope"])
async def test_websocket_upgrade_to_an_unknown_path_is_a_clean_404(
    hub: LiveHub, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(f"ws://127.0.0.1:{hub.running.port}{path}?token={TOKEN}"):
            pass
    assert rejected.value.status_code == 404
    assert rejected.value.body is not None
    error = json.loads(rejected.value.body)["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "not_found"
    assert path in error["message"]
    no_traceback_logged(caplog)


@pytest.mark.parametrize("since", [
    "9223372036854775808", "4611686018427387905", "99999999999999999999999", "+5", " 5", "5 ", "1_000",
    "\u0663", "\uff15", "5.0", "0x5", "-1", "", "abc",
])
async def test_since_must_be_ascii_digits_within_range(
    hub: LiveHub, caplog: pytest.LogCaptureFixture, since: str
) -> None:
    from urllib.parse import quote

    pid = (await hub.create_project())["id"]
    async with open_websocket_url(ws_url(hub, pid) + "&since=" + quote(since)) as ws:
        with trio.fail_after(WAIT_S), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    assert closed.value.reason.code == 4400
    assert "since" in closed.value.reason.reason
    no_traceback_logged(caplog)


async def test_since_beyond_the_latest_seq_is_closed_4400_naming_it(
    hub: LiveHub, caplog: pytest.LogCaptureFixture, project: str
) -> None:
    """E.g. a client that saw events of a database since restored from an older backup."""
    async with open_websocket_url(ws_url(hub, project, since=2)) as ws:
        with trio.fail_after(WAIT_S), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    assert closed.value.reason.code == 4400
    assert "latest seq is 1" in closed.value.reason.reason, closed.value.reason
    no_traceback_logged(caplog)


async def test_since_equal_to_the_latest_seq_follows_live_events(hub: LiveHub, project: str) -> None:
    async with open_websocket_url(ws_url(hub, project, since=1)) as ws:
        created = await hub.create_node(project, id="b")
        events = await collect_until(ws, lambda e: e["type"] == "node.created")
    assert [(e["seq"], e["node"]) for e in events] == [(2, created)]


# -- a subscriber that never reads -----------------------------------------------------------------------------


class _Signal(logging.Handler):
    """Collects one logger's records and wakes the test when one matches (the hub logs from its trio tasks)."""

    def __init__(self, match: str) -> None:
        super().__init__(logging.DEBUG)
        self.match = match
        self.records: list[logging.LogRecord] = []
        self.seen = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.match in record.getMessage():
            self.records.append(record)
            self.seen.set()


async def open_non_reader(port: int, project_id: str) -> trio.SocketStream:
    """A WebSocket client that sends its upgrade request and then never reads a byte (tiny receive buffer)."""
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", port))
    stream = trio.SocketStream(sock)
    key = base64.b64encode(os.urandom(16)).decode()
    await stream.send_all(
        f"GET /ws/subscribe/{project_id}?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    return stream


async def test_subscriber_that_never_reads_is_dropped_and_logged_while_others_go_on(
    hub: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestra.api.ws

    monkeypatch.setattr(orchestra.api.ws, "SEND_TIMEOUT_S", 1.0)
    bus = hub.running.hub.bus
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="flood", prompt="@lines=50000")
    dropped = _Signal("dropped a subscriber")
    logging.getLogger("orchestra.api.ws").addHandler(dropped)
    try:
        async with open_websocket_url(ws_url(hub, pid)) as fast:
            start = json.loads(await fast.get_message())["seq"]
            stuck = await open_non_reader(hub.running.port, pid)
            try:
                with trio.fail_after(WAIT_S):
                    await bus.wait_for_subscribers(pid, 2)
                launched = await hub.launch(pid)
                events = await collect_until(fast, run_finished(launched["run_id"]), FLOOD_WAIT_S)
                with trio.fail_after(WAIT_S):
                    await dropped.seen.wait()
                assert bus.subscriber_count(pid) == 1  # its buffer is gone; the fast one is still there
            finally:
                await stuck.aclose()
    finally:
        logging.getLogger("orchestra.api.ws").removeHandler(dropped)
    assert len(dropped.records) == 1
    assert dropped.records[0].levelno == logging.WARNING
    assert pid in dropped.records[0].getMessage()
    lines = [e for e in events if e["type"] == "execution.output" and e["output"].get("text", "").startswith("line ")]
    assert len(lines) == 50_000
    assert [e["seq"] for e in events] == list(range(start + 1, start + 1 + len(events)))
    assert (await hub.wait_run(launched))["status"] == "succeeded"
