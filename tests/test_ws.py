"""The WebSocket subscription against a real server, with real trio-websocket clients."""

from __future__ import annotations

import json
import threading
from functools import partial
from typing import Any

import pytest
import trio
from conftest import TOKEN, WAIT_S, LiveHub
from trio_websocket import ConnectionClosed, ConnectionRejected, WebSocketConnection, open_websocket_url

# A run of 50,000 lines took ~23-25 s here at a load average of 15 (30 s was the old bound): this bound
# only catches a hang, it is no speed check (that is benchmarks/).
FLOOD_WAIT_S = 180


def ws_url(hub: LiveHub, project_id: str, since: int | None = None, token: str = TOKEN) -> str:
    url = f"ws://127.0.0.1:{hub.running.port}/ws/subscribe/{project_id}?token={token}"
    return url if since is None else f"{url}&since={since}"


def flatten(message: str) -> list[dict[str, Any]]:
    value = json.loads(message)
    return value if isinstance(value, list) else [value]


async def collect_until(ws: WebSocketConnection, stop: Any, within: float = WAIT_S) -> list[dict[str, Any]]:
    """Events until one satisfies ``stop`` (included), within ``within`` seconds (a bound against a hang).

    A heartbeat is not an event: the hub sends one after HEARTBEAT_S without events (on a loaded
    machine, e.g. while an agent starts), so it is left out, once checked to carry the last seq sent."""
    received: list[dict[str, Any]] = []
    with trio.fail_after(within):
        while True:
            for event in flatten(await ws.get_message()):
                if event["type"] == "heartbeat":
                    assert not received or event["seq"] == received[-1]["seq"], (event, received[-1])
                    continue
                received.append(event)
                if stop(event):
                    return received


def run_finished(run_id: str) -> Any:
    return lambda e: e["type"] == "run.finished" and e["run_id"] == run_id


async def stored_events(hub: LiveHub, project_id: str, after: int = 0) -> list[dict[str, Any]]:
    rows = await hub.running.hub.db.read(lambda db: db.execute(
        "SELECT body FROM events WHERE project_id = ? AND seq > ? ORDER BY seq", [project_id, after]).fetchall())
    return [json.loads(body) for (body,) in rows]


async def test_snapshot_then_live_events_in_seq_order(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="a")
    await hub.create_node(pid, id="b", depends_on=["a"])
    async with open_websocket_url(ws_url(hub, pid)) as ws:
        snapshot = json.loads(await ws.get_message())
        assert snapshot["type"] == "snapshot"
        assert snapshot["seq"] == 2  # node.created twice
        assert [n["id"] for n in snapshot["nodes"]] == ["a", "b"]
        assert snapshot["project"]["id"] == pid
        assert snapshot["executions"] == []
        launched = await hub.launch(pid)
        events = await collect_until(ws, run_finished(launched["run_id"]))
    assert [e["seq"] for e in events] == list(range(3, 3 + len(events)))
    assert events == await stored_events(hub, pid, after=2)
    types = [e["type"] for e in events]
    assert types[0] == "run.started"
    assert types.count("execution.started") == 2
    assert types.count("execution.finished") == 2
    assert any(e["type"] == "execution.output" and e["output"]["kind"] == "tool_use" for e in events)


async def test_reconnect_with_since_receives_exactly_what_was_missed(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="chatty", prompt="@lines=3000 @delay=0.0005")
    async with open_websocket_url(ws_url(hub, pid)) as ws:
        start = json.loads(await ws.get_message())["seq"]
        launched = await hub.launch(pid)
        first = await collect_until(ws, lambda e: e["seq"] >= start + 50)
    last_seen = first[-1]["seq"]
    async with open_websocket_url(ws_url(hub, pid, since=last_seen)) as ws:
        rest = await collect_until(ws, run_finished(launched["run_id"]))
    received = first + rest
    assert [e["seq"] for e in received] == list(range(start + 1, start + 1 + len(received)))
    assert received == await stored_events(hub, pid, after=start)
    execution_id = launched["executions"][0]["id"]
    from_rest = await hub.events(execution_id)
    assert [e for e in received if e.get("execution_id") == execution_id] == from_rest


async def test_since_zero_replays_the_whole_history(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="a")
    run = await hub.wait_run(await hub.launch(pid))
    async with open_websocket_url(ws_url(hub, pid, since=0)) as ws:
        replayed = await collect_until(ws, run_finished(run["id"]))
    assert replayed == await stored_events(hub, pid)


@pytest.mark.parametrize("since", [None, 0])
async def test_an_event_committed_but_not_yet_published_when_a_subscriber_joins_is_sent_once(
    hub: LiveHub, monkeypatch: pytest.MonkeyPatch, since: int | None
) -> None:
    """The seam between stored and live events, held open: the writer has committed ``node.created``
    (seq 1) but not yet handed it to the bus when a subscriber joins, so the snapshot (or the replay)
    already holds it and the bus then delivers it live as well. The subscriber must see it once."""
    pid = (await hub.create_project())["id"]
    db = hub.running.hub.db
    run_batch = db._run_batch
    committed, release = trio.Event(), threading.Event()

    def held_after_commit(batch: Any) -> Any:
        failure = run_batch(batch)
        if not committed.is_set():
            trio.from_thread.run_sync(committed.set)
            release.wait(WAIT_S)  # the bus gets the batch's events only once the test says so
        return failure

    monkeypatch.setattr(db, "_run_batch", held_after_commit)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(hub.create_node, pid, id="a"))
            with trio.fail_after(WAIT_S):
                await committed.wait()
            async with open_websocket_url(ws_url(hub, pid, since=since)) as ws:
                first = flatten(await ws.get_message())
                if since is None:  # the snapshot read the committed write
                    assert [(m["type"], m["seq"], [n["id"] for n in m["nodes"]]) for m in first] == [
                        ("snapshot", 1, ["a"])]
                else:  # the replay did
                    assert [(e["seq"], e["type"]) for e in first] == [(1, "node.created")]
                release.set()  # seq 1 now reaches the bus, after the subscriber registered
                await hub.create_node(pid, id="marker")
                events = await collect_until(ws, lambda e: e["type"] == "node.created" and e["node"]["id"] == "marker")
    finally:
        release.set()
    assert [e["seq"] for e in events] == [2], "an event sent twice, or out of order, across the hand-over"


async def test_slow_subscriber_is_closed_4008_while_a_fast_one_gets_every_event(
    hub: LiveHub, caplog: pytest.LogCaptureFixture
) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="flood", prompt="@lines=50000")
    async with open_websocket_url(ws_url(hub, pid), message_queue_size=1) as slow, \
            open_websocket_url(ws_url(hub, pid)) as fast:
        json.loads(await slow.get_message())  # the snapshot; then it stops reading
        start = json.loads(await fast.get_message())["seq"]
        launched = await hub.launch(pid)
        events = await collect_until(fast, run_finished(launched["run_id"]), FLOOD_WAIT_S)
        lines = [e for e in events
                 if e["type"] == "execution.output" and e["output"].get("text", "").startswith("line ")]
        assert len(lines) == 50_000
        assert [e["seq"] for e in events] == list(range(start + 1, start + 1 + len(events)))
        with trio.fail_after(WAIT_S), pytest.raises(ConnectionClosed) as closed:
            while True:
                await slow.get_message()
    assert closed.value.reason.code == 4008
    assert "since" in closed.value.reason.reason
    dropped = [r for r in caplog.records if r.name == "orchestra.api.ws" and "dropped a subscriber" in r.getMessage()]
    assert [(r.levelname, pid in r.getMessage()) for r in dropped] == [("WARNING", True)]


async def test_subscriber_of_another_project_receives_nothing_of_this_one(hub: LiveHub) -> None:
    busy = (await hub.create_project(name="busy"))["id"]
    quiet = (await hub.create_project(name="quiet"))["id"]
    await hub.create_node(busy, id="a")
    async with open_websocket_url(ws_url(hub, quiet)) as ws:
        snapshot = json.loads(await ws.get_message())
        assert snapshot["project"]["id"] == quiet
        await hub.wait_run(await hub.launch(busy))
        marker = await hub.create_node(quiet, id="marker")  # the next event this subscriber may see
        (event,) = flatten(await ws.get_message())
    assert event["type"] == "node.created"
    assert event["node"] == marker
    assert event["project_id"] == quiet


async def test_unknown_project_is_closed_with_4404(hub: LiveHub) -> None:
    async with open_websocket_url(ws_url(hub, "prj_nope")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    assert closed.value.reason.code == 4404
    assert "prj_nope" in closed.value.reason.reason


@pytest.mark.parametrize("token", ["", "wrong-token-wrong-token"])
async def test_missing_or_wrong_token_is_refused_before_accept(hub: LiveHub, token: str) -> None:
    pid = (await hub.create_project())["id"]
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(ws_url(hub, pid, token=token)):
            pass
    assert rejected.value.status_code == 401


async def test_token_in_authorization_header_is_accepted(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    url = f"ws://127.0.0.1:{hub.running.port}/ws/subscribe/{pid}"
    async with open_websocket_url(url, extra_headers=[("Authorization", f"Bearer {TOKEN}")]) as ws:
        assert json.loads(await ws.get_message())["type"] == "snapshot"


async def test_bad_since_is_closed_with_4400(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    async with open_websocket_url(ws_url(hub, pid) + "&since=abc") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    assert closed.value.reason.code == 4400


async def test_hub_stop_closes_subscribers_with_1001(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    async with open_websocket_url(ws_url(hub, pid)) as ws:
        await ws.get_message()
        hub.running.stop.set()
        with trio.fail_after(WAIT_S), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    assert closed.value.reason.code == 1001


async def test_idle_subscription_gets_heartbeats_carrying_the_last_seq(
    hub: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestra.api.ws

    monkeypatch.setattr(orchestra.api.ws, "HEARTBEAT_S", 0.05)
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="a")
    async with open_websocket_url(ws_url(hub, pid)) as ws:
        snapshot = json.loads(await ws.get_message())
        with trio.fail_after(WAIT_S):
            heartbeat = json.loads(await ws.get_message())
    assert heartbeat == {"type": "heartbeat", "seq": snapshot["seq"]}


async def test_snapshot_lists_the_latest_execution_of_existing_nodes_only(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="keep")
    await hub.create_node(pid, id="gone")
    first = await hub.wait_run(await hub.launch(pid))
    second = await hub.wait_run(await hub.launch(pid, ["keep"]))
    assert (await hub.delete(f"/projects/{pid}/nodes/gone")).status_code == 204
    async with open_websocket_url(ws_url(hub, pid)) as ws:
        snapshot = json.loads(await ws.get_message())
    assert [n["id"] for n in snapshot["nodes"]] == ["keep"]
    assert [e["id"] for e in snapshot["executions"]] == [second["executions"][0]["id"]]
    assert first["executions"][0]["id"] != second["executions"][0]["id"]
