"""A hub killed with SIGKILL mid-run, then restarted on the same database."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import trio
from conftest import TOKEN, WAIT_S, FakeAgents
from hubproc import hub_env, hub_process, wait_for_event
from trio_websocket import ConnectionClosed, open_websocket_url

from benchmarks.procfs import alive


async def test_sigkill_mid_run_then_restart_interrupts_and_ends_the_orphans(
    tmp_path: Path, agents: FakeAgents
) -> None:
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"))
    received: list[dict[str, Any]] = []
    async with hub_process(env) as hub, hub.http() as http:
        project = (await http.post("/projects", json={"name": "doomed"})).json()
        pid = project["id"]
        await http.post(f"/projects/{pid}/nodes", json={
            "id": "long", "title": "Long", "prompt": "@lines=20 @hang @child", "agent": "claude-code"})
        await http.post(f"/projects/{pid}/nodes", json={
            "id": "next", "title": "Next", "prompt": "later", "agent": "claude-code", "depends_on": ["long"]})
        url = f"ws://127.0.0.1:{hub.port}/ws/subscribe/{pid}?token={TOKEN}"
        async with open_websocket_url(url) as ws:
            await ws.get_message()  # snapshot
            run = (await http.post("/launch", json={"project_id": pid})).json()
            with trio.fail_after(WAIT_S):
                while not any(e.get("output", {}).get("text") == "line 20" for e in received):
                    message = json.loads(await ws.get_message())
                    received.extend(message if isinstance(message, list) else [message])
            os.kill(hub.process.pid, signal.SIGKILL)
            try:
                with trio.fail_after(WAIT_S):
                    while True:
                        message = json.loads(await ws.get_message())
                        received.extend(message if isinstance(message, list) else [message])
            except ConnectionClosed:
                pass
    (record,) = agents.recorded()
    agent_pids = [record["pid"], record["child_pid"]]
    assert all(alive(p) for p in agent_pids), "the agent should outlive a SIGKILLed hub until the restart"

    async with hub_process(env) as hub, hub.http() as http:
        execution = (await http.get(f"/executions?run_id={run['run_id']}&node_id=long")).json()["executions"][0]
        assert execution["status"] == "interrupted"
        assert execution["error"] == "the hub stopped while it ran"
        queued = (await http.get(f"/executions?run_id={run['run_id']}&node_id=next")).json()["executions"][0]
        assert queued["status"] == "interrupted"
        assert (await http.get(f"/runs/{run['run_id']}")).json()["status"] == "cancelled"
        assert not any(alive(p) for p in agent_pids), "recovery must end the orphaned agent group"
        assert "ended 2 leftover process(es)" in hub.log.decode()
        # the restarted hub keeps serving: the same project runs again
        rerun = await http.post(f"/projects/{pid}/nodes/long", json=None)
        assert rerun.status_code == 405

    with sqlite3.connect(tmp_path / "orchestra.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {seq: json.loads(body) for seq, body in db.execute(
            "SELECT seq, body FROM events WHERE project_id = ?", [pid])}
    assert received, "the subscriber saw events before the kill"
    for event in received:
        assert stored.get(event["seq"]) == event, f"event {event['seq']} was sent but is not stored"
    seqs = sorted(stored)
    assert seqs == list(range(1, len(seqs) + 1))


async def test_recovery_never_kills_a_reused_pid(tmp_path: Path, agents: FakeAgents) -> None:
    """An execution left 'running' whose pid now belongs to another process: that process lives."""
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"))
    async with hub_process(env) as hub, hub.http() as http:
        project = (await http.post("/projects", json={"name": "p"})).json()
        await http.post(f"/projects/{project['id']}/nodes", json={
            "id": "a", "title": "A", "prompt": "quick", "agent": "claude-code"})
        run = (await http.post("/launch", json={"project_id": project["id"]})).json()
        execution_id = run["executions"][0]["id"]
        finished = await wait_for_event(hub, project["id"], lambda e: e["type"] == "run.finished")
        assert finished["run"]["status"] == "succeeded"
    bystander = await trio.lowlevel.open_process(["sleep", "60"])
    try:
        with sqlite3.connect(tmp_path / "orchestra.db") as db:  # as if that execution were still running
            db.execute("UPDATE executions SET status = 'running', pid = ?, proc_start = 1 WHERE id = ?",
                       [bystander.pid, execution_id])
        async with hub_process(env) as hub, hub.http() as http:
            execution = (await http.get(f"/executions/{execution_id}")).json()
            assert execution["status"] == "interrupted"
            assert alive(bystander.pid)
    finally:
        bystander.kill()
        await bystander.wait()
