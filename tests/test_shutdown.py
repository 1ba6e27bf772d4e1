"""A real hub (``python orchestra.py`` as a subprocess, as systemd runs it) stopped by a signal while an
agent runs: it exits 0 within a bound, no agent process survives it (leader or grandchild), the
execution is recorded ``interrupted`` and its run ``cancelled``, and the database is intact."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import TOKEN, FakeAgents
from hubproc import HubProcess, hub_env, hub_process, wait_for_event

from benchmarks.procfs import alive

GRACE_S = 2  # ORCHESTRA_KILL_GRACE_S in hub_env
# Signal to exit: the agents' grace, then final writes (5 s of room). An idle keep-alive HTTP connection
# would add hypercorn's graceful_timeout (3 s, orchestra/server.py), so the test closes its clients
# before signalling.
STOP_S = GRACE_S + 5


def read_db(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


async def launch_one(hub: HubProcess, prompt: str, name: str = "shutdown test") -> dict[str, Any]:
    """A project with one claude-code node running ``prompt``; returns the launch reply (+ project_id)."""
    async with hub.http() as http:
        project = (await http.post("/projects", json={"name": name})).json()
        node = await http.post(f"/projects/{project['id']}/nodes",
                               json={"id": "n", "title": "N", "prompt": prompt, "agent": "claude-code"})
        assert node.status_code == 201, node.text
        launched = await http.post("/launch", json={"project_id": project["id"]})
        assert launched.status_code == 202, launched.text
    return launched.json() | {"project_id": project["id"]}


async def stop(hub: HubProcess, signum: int = signal.SIGTERM) -> float:
    """Signal the hub; it must exit 0 within STOP_S. Returns the seconds it took."""
    started = trio.current_time()
    hub.process.send_signal(signum)
    with trio.move_on_after(STOP_S):
        await hub.process.wait()
    took = trio.current_time() - started
    log = hub.log.decode(errors="replace")
    assert hub.process.returncode is not None, f"no exit within {STOP_S} s of {signal.Signals(signum).name}:\n{log}"
    assert hub.process.returncode == 0, log
    return took


@pytest.mark.parametrize(("prompt", "signum"), [
    ("@hang @child", signal.SIGTERM),
    ("@hang @child @ignore-term", signal.SIGTERM),  # the hub must escalate to SIGKILL after the grace
    ("@hang @child", signal.SIGINT),
], ids=["sigterm", "sigterm-agent-ignores-it", "sigint"])
async def test_signal_stops_hub_ends_agents_and_records_interruption(
        tmp_path: Path, agents: FakeAgents, prompt: str, signum: int) -> None:
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"))
    async with hub_process(env) as hub:
        launched = await launch_one(hub, prompt)
        # The fake agent spawns its grandchild before it prints: output means both are running.
        await wait_for_event(hub, launched["project_id"], lambda e: e["type"] == "execution.output")
        (record,) = agents.recorded()
        leader, grandchild = record["pid"], record["child_pid"]
        assert alive(leader) and alive(grandchild)
        took = await stop(hub, signum)
    print(f"\n{signal.Signals(signum).name} to exit with a running agent ({prompt}): {took:.2f} s")

    assert not alive(leader), "the agent outlived the hub"
    assert not alive(grandchild), "the agent's grandchild outlived the hub"
    db = tmp_path / "orchestra.db"
    execution_id = launched["executions"][0]["id"]
    [(status, error)] = read_db(db, "SELECT status, error FROM executions WHERE id = ?", execution_id)
    assert status == "interrupted", error
    [(run_status,)] = read_db(db, "SELECT status FROM runs WHERE id = ?", launched["run_id"])
    assert run_status == "cancelled"
    assert read_db(db, "PRAGMA integrity_check") == [("ok",)]

    # A hub started again on that database reads the same and starts nothing.
    async with hub_process(env) as again:
        async with again.http() as http:
            assert (await http.get(f"/executions/{execution_id}")).json()["status"] == "interrupted"
            assert (await http.get(f"/runs/{launched['run_id']}")).json()["status"] == "cancelled"
        await stop(again)
    assert len(agents.recorded()) == 1, "an agent was started again"
