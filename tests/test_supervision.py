"""Supervision on a hub limited to one execution at a time: the limit spans projects, and a crashed
project actor is restarted while other projects never notice."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import FakeAgents, LiveHub, make_settings
from test_runtime import overlapping

from orchestra.runtime.driver import RunDriver


@pytest.fixture
def settings(tmp_path: Path, agents: FakeAgents) -> Any:
    """This module's hub runs one execution at a time, whatever the projects allow."""
    return make_settings(tmp_path, agents, max_parallel=1)


async def test_hub_wide_limit_spans_projects(hub: LiveHub) -> None:
    runs = []
    for name in ("one", "two"):
        project = await hub.create_project(name=name, max_parallel=5)
        for i in range(3):
            await hub.create_node(project["id"], id=f"n{i}", prompt="@sleep=0.1")
        runs.append(await hub.launch(project["id"]))
    finished = [await hub.wait_run(run) for run in runs]
    assert all(run["status"] == "succeeded" for run in finished)
    assert overlapping([e for run in finished for e in run["executions"]]) == 1


async def test_a_failing_command_fails_alone_and_the_projects_runs_go_on(hub: LiveHub) -> None:
    doomed = await hub.create_project(name="doomed")
    await hub.create_node(doomed["id"], id="victim", prompt="@hang")
    await hub.create_node(doomed["id"], id="broken", prompt="x")
    await hub.create_node(doomed["id"], id="other", prompt="later")
    hang_run = await hub.launch(doomed["id"], ["victim"])
    await hub.wait_execution(hang_run["executions"][0]["id"], {"running"})

    # Damage a row behind the hub's back: planning a launch now fails inside the actor (a bug's shape).
    with sqlite3.connect(hub.settings.database_path) as db:
        db.execute("UPDATE nodes SET position = '{not json' WHERE project_id = ? AND id = 'broken'", [doomed["id"]])
    response = await hub.post("/launch", {"project_id": doomed["id"], "node_ids": ["broken"]})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal" and error["message"].startswith("internal error in launch: JSONDecodeError")

    # The running agent was not touched: it is still running and ends only when cancelled.
    assert (await hub.get(f"/executions/{hang_run['executions'][0]['id']}")).json()["status"] == "running"
    assert (await hub.post(f"/runs/{hang_run['run_id']}/cancel")).status_code == 202
    assert (await hub.wait_run(hang_run))["status"] == "cancelled"

    with sqlite3.connect(hub.settings.database_path) as db:
        db.execute("UPDATE nodes SET position = NULL WHERE project_id = ? AND id = 'broken'", [doomed["id"]])
    again = await hub.wait_run(await hub.launch(doomed["id"], ["other"]))
    assert again["status"] == "succeeded"


async def test_a_crashed_actor_is_restarted_and_other_projects_never_notice(
        hub: LiveHub, monkeypatch: pytest.MonkeyPatch) -> None:
    calm = await hub.create_project(name="calm")
    await hub.create_node(calm["id"], id="steady", prompt="@lines=50 @delay=0.01")
    doomed = await hub.create_project(name="doomed")
    await hub.create_node(doomed["id"], id="victim", prompt="@hang")
    await hub.create_node(doomed["id"], id="other", prompt="later")
    calm_run = await hub.launch(calm["id"])
    hang_run = await hub.launch(doomed["id"], ["victim"])
    await hub.wait_execution(hang_run["executions"][0]["id"], {"running"})

    async def crashing_drive_run(self: RunDriver, run: Any) -> None:
        raise RuntimeError("a bug in the actor's own task")

    # The last line of defence: a bug where nothing contains it, in a task of the actor's nursery.
    with monkeypatch.context() as patch:
        patch.setattr(RunDriver, "drive", crashing_drive_run)
        crash_run = await hub.launch(doomed["id"], ["other"])
        victim = await hub.wait_execution(hang_run["executions"][0]["id"], {"interrupted"})
        never_started = await hub.wait_execution(crash_run["executions"][0]["id"], {"interrupted"})
    assert victim["error"] == "the hub's actor of this project failed; see the hub's log"
    assert never_started["error"].startswith(
        "the hub's actor of this project failed (RuntimeError(\"a bug in the actor's own task\"))")
    assert (await hub.wait_run(hang_run))["status"] == "cancelled"
    assert (await hub.wait_run(calm_run))["status"] == "succeeded"

    with trio.fail_after(30):
        again = await hub.wait_run(await hub.launch(doomed["id"], ["other"]))  # the restarted actor serves
    assert again["status"] == "succeeded"
