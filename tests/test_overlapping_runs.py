"""Overlapping runs (issue 26, item 1): a project's state and the status each node shows follow every
unfinished run. On 5d24be3, launching twice and cancelling the newer run made the API, the snapshot and
the terminal client say "idle", "last run cancelled" and every node cancelled while the older run still
had its agents at work."""

from __future__ import annotations

import json
import sys
from typing import Any

import trio
from conftest import TOKEN, WAIT_S, LiveHub
from hubproc import ENTRY
from trio_websocket import open_websocket_url


async def overlapping(hub: LiveHub) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A project whose older run has its two agents at work and whose newer run was cancelled."""
    project = await hub.create_project(name="overlap")
    pid = project["id"]
    for node_id in ("x", "y"):
        await hub.create_node(pid, id=node_id, prompt="@hang")
    older = await hub.launch(pid)
    for execution in older["executions"]:
        await hub.wait_execution(execution["id"], {"running"})
    newer = await hub.launch(pid)
    assert (await hub.post(f"/runs/{newer['run_id']}/cancel")).status_code == 202
    await hub.wait_run(newer)
    return pid, older, newer


async def snapshot(hub: LiveHub, project_id: str) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{hub.running.port}/ws/subscribe/{project_id}?token={TOKEN}"
    async with open_websocket_url(url) as ws:
        with trio.fail_after(WAIT_S):
            message: dict[str, Any] = json.loads(await ws.get_message())
    assert message["type"] == "snapshot"
    return message


async def test_state_and_node_status_follow_every_unfinished_run(hub: LiveHub) -> None:
    pid, older, newer = await overlapping(hub)
    listed = {p["id"]: p for p in (await hub.get("/projects")).json()["projects"]}[pid]
    one = (await hub.get(f"/projects/{pid}")).json()
    for project in (listed, one):
        assert project["state"] == "running", project
        assert project["running_runs"] == [older["run_id"]]
        assert project["last_run"]["id"] == newer["run_id"] and project["last_run"]["status"] == "cancelled"

    seen = await snapshot(hub, pid)
    assert seen["project"]["state"] == "running"
    shown = {e["node_id"]: (e["run_id"], e["status"]) for e in seen["executions"]}
    assert shown == {"x": (older["run_id"], "running"), "y": (older["run_id"], "running")}
    newest = {e["node_id"]: (e["run_id"], e["status"]) for e in seen["newer_executions"]}
    assert newest == {"x": (newer["run_id"], "cancelled"), "y": (newer["run_id"], "cancelled")}

    done = await trio.run_process(
        [sys.executable, str(ENTRY), "status", "overlap", "--hub", hub.url, "--token", TOKEN],
        capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert lines[0] == (f"project overlap ({pid}): running, run {older['run_id']} in progress, "
                        f"last run {newer['run_id']} cancelled")
    assert [line.split()[:2] for line in lines[1:]] == [["x", "running"], ["y", "running"]]

    # Once the older run ends too, every view shows the newest executions again.
    assert (await hub.post(f"/runs/{older['run_id']}/cancel")).status_code == 202
    await hub.wait_run(older)
    project = (await hub.get(f"/projects/{pid}")).json()
    assert (project["state"], project["running_runs"]) == ("idle", [])
    seen = await snapshot(hub, pid)
    assert {e["run_id"] for e in seen["executions"]} == {newer["run_id"]} and seen["newer_executions"] == []


async def test_a_node_at_work_in_an_older_run_wins_over_one_queued_in_a_newer(hub: LiveHub) -> None:
    project = await hub.create_project(max_parallel=1)
    pid = project["id"]
    await hub.create_node(pid, id="x", prompt="@hang")
    older = await hub.launch(pid)
    await hub.wait_execution(older["executions"][0]["id"], {"running"})
    newer = await hub.launch(pid)  # queued behind the project's one slot
    seen = await snapshot(hub, pid)
    assert [(e["run_id"], e["status"]) for e in seen["executions"]] == [(older["run_id"], "running")]
    assert [(e["run_id"], e["status"]) for e in seen["newer_executions"]] == [(newer["run_id"], "queued")]
    project = (await hub.get(f"/projects/{pid}")).json()
    assert project["running_runs"] == [newer["run_id"], older["run_id"]]
    for run in (newer, older):
        await hub.post(f"/runs/{run['run_id']}/cancel")
        await hub.wait_run(run)
