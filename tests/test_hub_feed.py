"""The hub feed (/ws/hub) against a real server, with real trio-websocket clients: every project's project
and run events on one stream, gap-free, stored before they are sent, replayed from ``since`` (also by a
restarted hub), with the per-project stream's close codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trio
from conftest import TOKEN, WAIT_S, FakeAgents, LiveHub
from hubproc import hub_env, hub_process
from test_ws import collect_until, flatten
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from orchestra.core.statuses import HubEventType
from orchestra.storage import store


def hub_url(port: int, since: int | str | None = None, token: str = TOKEN) -> str:
    url = f"ws://127.0.0.1:{port}/ws/hub?token={token}"
    return url if since is None else f"{url}&since={quote(str(since), safe='')}"


def of_type(type_: str, project_id: str) -> Any:
    return lambda e: e["type"] == type_ and e["project_id"] == project_id


async def stored_hub_events(hub: LiveHub, after: int = 0) -> list[dict[str, Any]]:
    rows = await hub.running.hub.db.read(lambda db: db.execute(
        "SELECT body FROM hub_events WHERE seq > ? ORDER BY seq", [after]).fetchall())
    return [json.loads(body) for (body,) in rows]


async def closed_with(url: str) -> tuple[int, str]:
    async with open_websocket_url(url) as ws:
        with trio.fail_after(WAIT_S), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    reason = closed.value.reason
    return reason.code, reason.reason or ""


async def test_snapshot_then_every_projects_events_gap_free_as_stored(hub: LiveHub) -> None:
    before = await hub.create_project(name="before")
    async with open_websocket_url(hub_url(hub.running.port)) as ws:
        snapshot = json.loads(await ws.get_message())
        assert snapshot["type"] == "snapshot"
        assert snapshot["seq"] == 1  # project.created of "before"
        assert snapshot["projects"] == (await hub.get("/projects")).json()["projects"]
        project = await hub.create_project(name="watched")
        pid = project["id"]
        await hub.create_node(pid, id="a")
        run = await hub.wait_run(await hub.launch(pid))
        renamed = await hub.patch(f"/projects/{pid}", {"name": "renamed"})
        assert renamed.status_code == 200
        assert (await hub.delete(f"/projects/{before['id']}")).status_code == 204
        events = await collect_until(ws, of_type("project.deleted", before["id"]))
    assert [e["seq"] for e in events] == list(range(2, 2 + len(events)))
    assert events == await stored_hub_events(hub, after=1)
    assert [(e["type"], e["project_id"]) for e in events] == [
        ("project.created", pid), ("run.started", pid), ("run.finished", pid),
        ("project.updated", pid), ("project.deleted", before["id"])]
    created, started, finished, updated, deleted = events
    # Each carries the project as GET /projects lists it at that moment.
    assert created["project"]["name"] == "watched" and created["project"]["state"] == "idle"
    assert started["run_id"] == finished["run_id"] == run["id"]
    assert started["project"]["state"] == "running"
    assert started["project"]["last_run"]["id"] == run["id"]
    assert started["run"]["status"] == "running" and started["run"]["scope"] == "all"
    assert finished["run"]["status"] == "succeeded"
    assert finished["run"]["totals"] == run["totals"]
    assert finished["project"]["last_run"]["status"] == "succeeded"
    (listed,) = [p for p in (await hub.get("/projects")).json()["projects"] if p["id"] == pid]
    assert updated["project"] == listed
    assert "project" not in deleted and deleted["project_id"] == before["id"]
    assert all(isinstance(e["ts"], float) for e in events)


async def test_the_project_stream_keeps_its_own_seq_and_its_run_events(hub: LiveHub) -> None:
    """The run events go to both streams, alike but for ``seq``; project events only to the hub feed."""
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="a")
    run = await hub.wait_run(await hub.launch(pid))
    project_events = [json.loads(body) for (body,) in await hub.running.hub.db.read(lambda db: db.execute(
        "SELECT body FROM events WHERE project_id = ? ORDER BY seq", [pid]).fetchall())]
    assert [e["seq"] for e in project_events] == list(range(1, len(project_events) + 1))
    assert not [e for e in project_events if e["type"].startswith("project.")]
    hub_events = {e["type"]: e for e in await stored_hub_events(hub) if e["project_id"] == pid}
    for type_ in ("run.started", "run.finished"):
        (on_project,) = [e for e in project_events if e["type"] == type_]
        on_hub = hub_events[type_]
        assert on_project["run"] == on_hub["run"]
        assert on_project["run_id"] == on_hub["run_id"] == run["id"]


async def test_since_replays_exactly_what_was_missed_then_continues_live(hub: LiveHub) -> None:
    first = await hub.create_project(name="one")
    second = await hub.create_project(name="two")
    async with open_websocket_url(hub_url(hub.running.port, since=1)) as ws:
        replayed = await collect_until(ws, of_type("project.created", second["id"]))
        third = await hub.create_project(name="three")
        live = await collect_until(ws, of_type("project.created", third["id"]))
    assert [e["seq"] for e in replayed + live] == [2, 3]
    assert replayed + live == await stored_hub_events(hub, after=1)
    async with open_websocket_url(hub_url(hub.running.port, since=0)) as ws:
        everything = await collect_until(ws, of_type("project.created", third["id"]))
    assert [e["project"]["id"] for e in everything] == [first["id"], second["id"], third["id"]]


async def test_since_replays_across_a_hub_restart_and_seq_goes_on(tmp_path: Path, agents: FakeAgents) -> None:
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"))
    async with hub_process(env) as hub, hub.http() as http:
        project = (await http.post("/projects", json={"name": "kept"})).json()
        await http.post(f"/projects/{project['id']}/nodes", json={
            "id": "a", "title": "A", "prompt": "hi", "agent": "claude-code"})
        launched = (await http.post("/launch", json={"project_id": project["id"]})).json()
        async with open_websocket_url(hub_url(hub.port, since=0)) as ws:
            before = await collect_until(ws, lambda e: e["type"] == "run.finished")
    assert [e["type"] for e in before] == ["project.created", "run.started", "run.finished"]
    assert before[-1]["run_id"] == launched["run_id"]

    async with hub_process(env) as hub, hub.http() as http:
        async with open_websocket_url(hub_url(hub.port, since=0)) as ws:
            assert await collect_until(ws, lambda e: e["seq"] == before[-1]["seq"]) == before
        async with open_websocket_url(hub_url(hub.port, since=before[-1]["seq"])) as ws:
            other = (await http.post("/projects", json={"name": "after the restart"})).json()
            (event,) = await collect_until(ws, lambda e: True)
        assert event["seq"] == before[-1]["seq"] + 1
        other.pop("totals")  # the feed carries the project as GET /projects lists it
        assert event["type"] == "project.created" and event["project"] == other
        code, reason = await closed_with(hub_url(hub.port, since=event["seq"] + 1))
    assert code == 4400
    assert f"the latest seq is {event['seq']}" in reason


@pytest.mark.parametrize("since", ["abc", "-1", "+5", " 5", "1_000", "٣", str(2**62 + 1), ""])
async def test_a_malformed_since_is_closed_with_4400(hub: LiveHub, since: str) -> None:
    code, reason = await closed_with(hub_url(hub.running.port, since=since))
    assert (code, reason) == (4400, "since must be an integer from 0 to 2**62 (4611686018427387904)")


async def test_a_since_beyond_the_latest_seq_is_closed_with_4400_naming_it(hub: LiveHub) -> None:
    await hub.create_project()
    code, reason = await closed_with(hub_url(hub.running.port, since=2))
    assert code == 4400
    assert reason == "since=2 is ahead of the hub feed: the latest seq is 1; reconnect without since"
    async with open_websocket_url(hub_url(hub.running.port, since=1)) as ws:  # the latest itself is fine
        project = await hub.create_project(name="next")
        (event,) = flatten(await ws.get_message())
    assert (event["seq"], event["project"]["id"]) == (2, project["id"])


@pytest.mark.parametrize("token", ["", "wrong-token-wrong-token"])
async def test_missing_or_wrong_token_is_refused_before_accept(hub: LiveHub, token: str) -> None:
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(hub_url(hub.running.port, token=token)):
            pass
    assert rejected.value.status_code == 401
    assert json.loads(rejected.value.body or b"")["error"]["code"] == "unauthorized"


async def test_token_in_the_authorization_header_and_a_foreign_origin(hub: LiveHub) -> None:
    url = f"ws://127.0.0.1:{hub.running.port}/ws/hub"
    async with open_websocket_url(url, extra_headers=[("Authorization", f"Bearer {TOKEN}")]) as ws:
        assert json.loads(await ws.get_message()) == {"type": "snapshot", "seq": 0, "projects": []}
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(hub_url(hub.running.port), extra_headers=[("Origin", "http://evil.example")]):
            pass
    assert rejected.value.status_code == 403


async def test_a_slow_subscriber_is_closed_4008_while_a_fast_one_gets_every_event(
    hub: LiveHub, caplog: pytest.LogCaptureFixture
) -> None:
    project = await hub.create_project()
    pid = project["id"]
    writes, per_write = 100, 400  # 40,000 events: more than a subscriber may fall behind (20,000)

    def burst(tx: Any) -> None:
        summary = store.get_project(tx.db, pid)
        for _ in range(per_write):
            tx.emit_hub(pid, HubEventType.PROJECT_UPDATED, project=summary)

    async def flood() -> None:
        for _ in range(writes):
            await hub.running.hub.db.write(burst)

    async with open_websocket_url(hub_url(hub.running.port), message_queue_size=1) as slow, \
            open_websocket_url(hub_url(hub.running.port)) as fast:
        json.loads(await slow.get_message())  # the snapshot; then it stops reading
        start = json.loads(await fast.get_message())["seq"]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            events = await collect_until(fast, lambda e: e["seq"] == start + writes * per_write)
        assert [e["seq"] for e in events] == list(range(start + 1, start + writes * per_write + 1))
        with trio.fail_after(WAIT_S), pytest.raises(ConnectionClosed) as closed:
            while True:
                await slow.get_message()
    assert closed.value.reason.code == 4008
    assert "since" in (closed.value.reason.reason or "")
    dropped = [r for r in caplog.records if r.name == "orchestra.api.ws" and "dropped a subscriber" in r.getMessage()]
    assert [(r.levelname, "the hub feed" in r.getMessage()) for r in dropped] == [("WARNING", True)]


async def test_a_failed_write_leaves_no_hole_in_the_hub_seq(hub: LiveHub) -> None:
    """A write job that fails after emitting gives its seq back: the next event takes it."""
    pid = (await hub.create_project())["id"]

    def fails(tx: Any) -> None:
        tx.emit_hub(pid, HubEventType.PROJECT_UPDATED, project=store.get_project(tx.db, pid))
        raise RuntimeError("after the emit")

    with pytest.raises(RuntimeError):
        await hub.running.hub.db.write(fails)
    await hub.create_project(name="next")
    assert [e["seq"] for e in await stored_hub_events(hub)] == [1, 2]

