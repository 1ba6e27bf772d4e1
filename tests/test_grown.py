"""A plan node's grown tasks go with it: deleting the plan node (API, or a flow applied without it) or
changing it into another kind removes them, in one transaction, each with its ``node.deleted`` event; the
next launch runs none of them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import FakeAgents, LiveHub
from test_git_checkpoints import git_project
from test_plans import answer, task

TOML = {"Content-Type": "application/toml"}


async def grown_project(hub: LiveHub) -> str:
    """A project whose plan node has run and grown the tasks plan.a and plan.b (b after a)."""
    project, _ = await git_project(hub)
    pid = project["id"]
    await hub.create_node(pid, id="plan", kind="plan", prompt="Split. " + answer(task("a"), task("b", "a")))
    await hub.create_node(pid, id="ship", prompt="@write=ship.txt:ship", depends_on=["plan"])
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "succeeded", run
    assert await node_ids(hub, pid) == ["plan", "plan.a", "plan.b", "ship"]
    return pid


async def node_ids(hub: LiveHub, pid: str) -> list[str]:
    return sorted(n["id"] for n in (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"])


async def deleted_events(hub: LiveHub, pid: str, after: int) -> list[str]:
    """The node ids of ``node.deleted`` events stored after seq ``after`` (read from the hub's event log)."""
    rows = await hub.running.hub.db.read(lambda db: db.execute(
        "SELECT body FROM events WHERE project_id = ? AND seq > ? AND type = 'node.deleted' ORDER BY seq",
        [pid, after]).fetchall())
    return [json.loads(body)["node_id"] for (body,) in rows]


async def last_seq(hub: LiveHub, pid: str) -> int:
    found: Any = await hub.running.hub.db.read(lambda db: db.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM events WHERE project_id = ?", [pid]).fetchone()[0])
    return int(found)


@pytest.mark.parametrize("how", ["delete", "patch-kind", "apply-without-it", "apply-other-kind"])
async def test_the_grown_tasks_go_with_their_plan_node(hub: LiveHub, agents: FakeAgents, how: str) -> None:
    pid = await grown_project(hub)
    before = await last_seq(hub, pid)
    if how == "delete":
        assert (await hub.delete(f"/projects/{pid}/nodes/plan")).status_code == 204
        remaining = ["ship"]
    elif how == "patch-kind":
        changed = await hub.patch(f"/projects/{pid}/nodes/plan", {"kind": "agent"})
        assert changed.status_code == 200, changed.text
        remaining = ["plan", "ship"]
    else:
        flow = (await hub.get(f"/projects/{pid}/flow")).text
        assert "plan.a" not in flow  # grown tasks are not in the file: the plan grows them again
        if how == "apply-without-it":
            nodes = flow.split("[[nodes]]")
            flow = "[[nodes]]".join(part for part in nodes if 'id = "plan"' not in part)
            flow = flow.replace('depends_on = ["plan"]\n', "")
            remaining = ["ship"]
        else:
            flow = flow.replace('kind = "plan"\n', "")
            remaining = ["plan", "ship"]
        applied = await hub.post("/flows/apply", content=flow.encode(), headers=TOML, params={"project_id": pid})
        assert applied.status_code == 200 and applied.json()["changed"], applied.text
        assert {"- node plan.a", "- node plan.b"} <= set(applied.json()["diff"])  # the diff says so
    assert await node_ids(hub, pid) == remaining
    deleted = await deleted_events(hub, pid, before)
    assert deleted[:2] == ["plan.b", "plan.a"], deleted  # the grown tasks, each with its event
    again = await hub.launch(pid)
    assert sorted(e["node_id"] for e in again["executions"]) == remaining  # none of them runs again
    await hub.wait_run(again)


async def test_a_plan_node_whose_task_is_running_is_not_deleted(hub: LiveHub, agents: FakeAgents) -> None:
    pid = await grown_project(hub)
    await hub.patch(f"/projects/{pid}/nodes/plan.b", {"prompt": "@hang"})
    run = await hub.launch(pid, ["plan.b"])
    execution = next(e for e in run["executions"] if e["node_id"] == "plan.b")
    await hub.wait_execution(execution["id"], {"running"})
    refused = await hub.delete(f"/projects/{pid}/nodes/plan")
    assert refused.status_code == 409, refused.text
    assert await node_ids(hub, pid) == ["plan", "plan.a", "plan.b", "ship"]  # nothing was deleted
    await hub.post(f"/runs/{run['run_id']}/cancel")
    await hub.wait_run(run)
