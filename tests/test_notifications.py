"""Notifications through apprise to loopback HTTP receivers (apprise's ``json://``): a gate waiting, a run
finished and a restart's interrupted executions arrive with project, node, run and link; a receiver that
hangs or refuses delays neither the run nor the other receivers, loses no later message, and shows in
/health (without its secrets)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import WAIT_S, FakeAgents, LiveHub, make_settings, serving

from orchestra.core.notify_urls import check_targets, public_name, split_targets
from orchestra.runtime.notifications import waiting_message


@dataclass
class Receiver:
    """A loopback HTTP server that records each JSON body apprise posts. ``hang_first``: the first request
    gets no answer until ``release`` is set; ``refuse``: every connection is closed unanswered."""

    hang_first: bool = False
    refuse: bool = False
    port: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    release: trio.Event = field(default_factory=trio.Event)
    _changed: trio.Event = field(default_factory=trio.Event)

    def url(self, path: str = "hook", **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"json://127.0.0.1:{self.port}/{path}" + (f"?{query}" if query else "")

    async def wait(self, predicate: Any) -> None:
        with trio.fail_after(WAIT_S):
            while not predicate(self):
                self._changed = trio.Event()
                await self._changed.wait()

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        number = self.connections
        self._changed.set()
        if self.refuse:
            await stream.aclose()
            return
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                body += await stream.receive_some(65536)
            if self.hang_first and number == 1:
                await self.release.wait()
                return
            self.bodies.append(json.loads(body))
            self._changed.set()
            await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except trio.BrokenResourceError:
            pass
        finally:
            await stream.aclose()

    async def serve(self, nursery: trio.Nursery) -> None:
        listeners = await nursery.start(partial(trio.serve_tcp, self.handle, 0, host="127.0.0.1"))
        self.port = listeners[0].socket.getsockname()[1]


def titles(receiver: Receiver) -> list[str]:
    return [body["title"] for body in receiver.bodies]


async def test_gate_waiting_and_run_finished_arrive_and_a_hanging_or_refusing_receiver_delays_nothing(
        tmp_path: Path, agents: FakeAgents, nursery: trio.Nursery) -> None:
    good, hanging, refusing, own = Receiver(), Receiver(hang_first=True), Receiver(refuse=True), Receiver()
    for receiver in (good, hanging, refusing, own):
        await receiver.serve(nursery)
    notify = " ".join([good.url(), hanging.url("slow", rto="1", cto="1"),
                       refusing.url("dead", cto="1").replace("json://", "json://user:s3cret@")])
    settings = make_settings(tmp_path, agents, notify=notify, ui_url="https://hub.example/ui/")
    async with serving(settings) as hub:
        project = await hub.create_project(name="notified", notify=own.url("mine"))
        pid = project["id"]
        await hub.create_node(pid, id="review", kind="gate", agent=None, title="Human review")
        await hub.create_node(pid, id="ship", depends_on=["review"])
        launched = await hub.launch(pid)
        await good.wait(lambda r: len(r.bodies) >= 1)
        gate = good.bodies[0]
        gate_id = next(e["id"] for e in launched["executions"] if e["node_id"] == "review")
        assert gate["title"] == "⏳ notified: review waits for a decision at a gate"
        for expected in ("Project: notified", "Node: review (Human review)", f"Run: {launched['run_id']}",
                         f"Answer: orchestra approve {gate_id}",
                         f"Open: https://hub.example/ui/#project={pid}&run={launched['run_id']}&execution={gate_id}"):
            assert expected in gate["message"], gate["message"]
        assert (await hub.post(f"/executions/{gate_id}/approve", {"comment": "go"})).status_code == 200
        # The run finishes while the hanging receiver still holds its first request unanswered.
        run = await hub.wait_run(launched)
        assert run["status"] == "succeeded"
        assert not hanging.bodies and not hanging.release.is_set()
        await good.wait(lambda r: len(r.bodies) >= 2)
        finished = good.bodies[1]
        assert finished["title"] == "✓ notified: run succeeded"
        assert f"Run: {launched['run_id']} succeeded in " in finished["message"]
        assert ", cost $0.0" in finished["message"]
        assert f"#project={pid}&run={launched['run_id']}" in finished["message"]
        # The project's own target got both too.
        await own.wait(lambda r: len(r.bodies) >= 2)
        assert titles(own) == titles(good)
        # The hanging receiver gets the first message on a retry, then the next one: nothing lost.
        hanging.release.set()
        await hanging.wait(lambda r: len(r.bodies) >= 2)
        assert titles(hanging) == titles(good)
        # The refusing one: three attempts for the first message, then the next one is tried (not lost
        # behind it); its failure is in /health, without the password.
        await refusing.wait(lambda r: r.connections >= 4)
        health = (await hub.get("/health")).json()["notifications"]["targets"]
        dead = next(t for t in health if t["target"] == f"json://127.0.0.1:{refusing.port}")
        assert dead["failed"] >= 1 and dead["failing"] and dead["last_error"]
        assert "s3cret" not in json.dumps(health)
        alive = next(t for t in health if t["target"] == f"json://127.0.0.1:{good.port}")
        assert alive["sent"] == 2 and alive["failed"] == 0
        assert "notifications" not in (await hub.http.get("/health", headers={"Authorization": ""})).json()


async def test_a_restart_that_interrupted_executions_is_notified(tmp_path: Path, agents: FakeAgents,
                                                                 nursery: trio.Nursery) -> None:
    receiver = Receiver()
    await receiver.serve(nursery)
    settings = make_settings(tmp_path, agents)
    async with serving(settings) as hub:
        project = await hub.create_project(name="long", notify=receiver.url())
        await hub.create_node(project["id"], id="forever", prompt="@hang")
        launched = await hub.launch(project["id"])
        await hub.wait_execution(launched["executions"][0]["id"], {"running"})
    async with serving(settings):
        await receiver.wait(lambda r: any("restarted" in t for t in titles(r)))
    restart = next(b for b in receiver.bodies if "restarted" in b["title"])
    assert restart["title"] == "Orchestra restarted: 1 execution(s) of long interrupted"
    assert "Interrupted: forever" in restart["message"] and f"#project={project['id']}" in restart["message"]


def test_a_parked_execution_message_names_the_resume_time() -> None:
    item = {"kind": "parked", "project_id": "prj_1", "run_id": "run_1", "node_id": "build", "node_title": "Build",
            "execution_id": "exe_1", "since": 1.0, "resume_at": 1_800_000_000.0}
    message = waiting_message(item, "shop", "http://localhost:8000/ui/#project=prj_1")
    assert message.title == "⏸ shop: build parked at a usage limit"
    assert "Node: build (Build)" in message.body and "Run: run_1" in message.body and "Resumes at 20" in message.body
    assert "Open: http://localhost:8000/ui/#project=prj_1" in message.body


def test_targets_are_split_checked_and_shown_without_secrets() -> None:
    assert split_targets("ntfy://a, ntfy://b ntfy://a") == ["ntfy://a", "ntfy://b"]
    assert check_targets("ntfy://topic slack://T1/B1/abc") == "ntfy://topic slack://T1/B1/abc"
    with pytest.raises(ValueError, match="'nonsense://…' is not a notification URL"):
        check_targets("ntfy://ok nonsense://x")
    assert public_name("json://user:pw@host:8080/path?x=1") == "json://host:8080"


async def test_a_bad_notify_url_is_refused_and_changes_nothing(hub: LiveHub) -> None:
    bad = await hub.post("/projects", {"name": "p", "notify": "bogus://x"})
    assert bad.status_code == 422 and "'notify'" in bad.json()["error"]["message"], bad.text
    project = await hub.create_project(notify="ntfy://mine")
    assert project["notify"] == "ntfy://mine"
    patched = await hub.patch(f"/projects/{project['id']}", {"notify": "mailto"})
    assert patched.status_code == 422
    assert (await hub.get(f"/projects/{project['id']}")).json()["notify"] == "ntfy://mine"


def test_a_bad_orchestra_notify_stops_the_start_without_echoing_the_url() -> None:
    from orchestra.core.settings import ConfigError, load_settings

    with pytest.raises(ConfigError) as refused:
        load_settings(notify="ntfy://fine, bogus://secret-token-123")
    assert "ORCHESTRA_NOTIFY" in str(refused.value) and "'bogus://…' is not a notification URL" in str(refused.value)
    assert "secret-token-123" not in str(refused.value)
