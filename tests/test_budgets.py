"""Budgets stop an agent whose stream reports usage over its limit; totals add up."""

from __future__ import annotations

import pytest
from conftest import LiveHub


async def test_node_cost_budget_stops_the_agent(hub: LiveHub) -> None:
    project = await hub.create_project()
    await hub.create_node(project["id"], id="spender", prompt="@costs=0.01,0.02,0.08,0.2 @delay=0.05 @hang",
                          budget={"cost_usd": 0.05})
    run = await hub.wait_run(await hub.launch(project["id"]))
    (execution,) = run["executions"]
    assert execution["status"] == "failed"
    assert execution["error"] == "node budget exceeded: cost $0.0800 is over its $0.05 budget; the agent was stopped"
    assert execution["cost_usd"] == pytest.approx(0.08)
    errors = [e["output"]["message"] for e in await hub.events(execution["id"])
              if e["type"] == "execution.output" and e["output"]["kind"] == "error"]
    assert errors == [execution["error"]]
    assert run["totals"]["cost_usd"] == pytest.approx(0.08)


async def test_run_budget_stops_every_agent_of_the_run_and_totals_add_up(hub: LiveHub) -> None:
    project = await hub.create_project()
    pid = project["id"]
    await hub.create_node(pid, id="cheap", prompt="quick")  # 0.00051 from the transcript
    await hub.create_node(pid, id="x", prompt="@costs=0.01,0.03,0.06 @delay=0.1 @hang", depends_on=["cheap"])
    await hub.create_node(pid, id="y", prompt="@hang", depends_on=["cheap"])
    response = await hub.post("/launch", {"project_id": pid, "budget": {"cost_usd": 0.05}})
    assert response.status_code == 202, response.text
    run = await hub.wait_run(response.json())
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert by_node["cheap"]["status"] == "succeeded"
    assert by_node["x"]["status"] == by_node["y"]["status"] == "failed"
    assert by_node["y"]["error"].startswith("run budget exceeded: cost $0.0605 is over its $0.05 budget")
    assert run["status"] == "failed"
    assert run["error"].startswith("run budget exceeded")
    spent = sum(e["cost_usd"] or 0 for e in run["executions"])
    assert run["totals"]["cost_usd"] == pytest.approx(spent)
    project_totals = (await hub.get(f"/projects/{pid}")).json()["totals"]
    assert project_totals["cost_usd"] == pytest.approx(spent)
    assert project_totals["executions"] == 3


async def test_node_wall_time_budget_fails_rather_than_times_out(hub: LiveHub) -> None:
    project = await hub.create_project()
    await hub.create_node(project["id"], id="slow", prompt="@hang", budget={"wall_s": 0.3}, retries=2)
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert next(e["status"] for e in run["executions"]) == "failed"
    assert "wall time over 0.3 s" in run["executions"][0]["error"]


async def test_bad_budget_is_refused(hub: LiveHub) -> None:
    project = await hub.create_project()
    response = await hub.post(f"/projects/{project['id']}/nodes", {
        "title": "x", "prompt": "p", "agent": "claude-code", "budget": {"cost_usd": -1}})
    assert response.status_code == 422
    assert "budget.cost_usd" in response.json()["error"]["message"]


async def test_run_wall_time_budget_stops_the_run(hub: LiveHub) -> None:
    project = await hub.create_project()
    await hub.create_node(project["id"], id="stuck", prompt="@hang")
    await hub.create_node(project["id"], id="later", prompt="never", depends_on=["stuck"])
    response = await hub.post("/launch", {"project_id": project["id"], "budget": {"wall_s": 0.3}})
    run = await hub.wait_run(response.json())
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert by_node["stuck"]["status"] == "failed"
    assert by_node["stuck"]["error"].startswith("run budget exceeded: wall time over 0.3 s")
    assert by_node["later"]["status"] == "skipped"
    assert run["status"] == "failed"
