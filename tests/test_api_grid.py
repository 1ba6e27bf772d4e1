"""GET /projects/{id}/grid: nodes in DAG order x runs newest first, each cell the node's last execution in
that run (checked against /executions), paged with ``before``; bad input is refused and changes nothing."""

from __future__ import annotations

from conftest import FakeAgents, LiveHub

from orchestra.storage.grid import dag_order


async def test_the_grid_has_each_run_s_last_execution_per_node_in_dag_order(hub: LiveHub, agents: FakeAgents) -> None:
    pid = (await hub.create_project(name="grid"))["id"]
    # Created in an order that is not the DAG's: the grid puts upstream rows first.
    await hub.create_node(pid, id="report", depends_on=[])
    await hub.create_node(pid, id="test", check=["false"])
    await hub.create_node(pid, id="build")
    assert (await hub.patch(f"/projects/{pid}/nodes/report", {"depends_on": ["test"]})).status_code == 200
    assert (await hub.patch(f"/projects/{pid}/nodes/test", {"depends_on": ["build"]})).status_code == 200
    first = await hub.wait_run(await hub.launch(pid))
    second = await hub.wait_run(await hub.launch(pid, ["build"]))
    third = await hub.wait_run(await hub.launch(pid))

    response = await hub.get(f"/projects/{pid}/grid", params={"runs": 2})
    assert response.status_code == 200, response.text
    grid = response.json()
    assert [n["id"] for n in grid["nodes"]] == ["build", "test", "report"]
    assert [r["id"] for r in grid["runs"]] == [third["id"], second["id"]]
    assert grid["next_before"] == second["id"]
    for run in grid["runs"]:
        executions = (await hub.get("/executions", params={"run_id": run["id"]})).json()["executions"]
        expected = {}
        for execution in reversed(executions):  # oldest first: the last one of a node wins
            expected[execution["node_id"]] = execution
        assert {k: (c["execution_id"], c["status"]) for k, c in run["cells"].items()} == {
            k: (e["id"], e["status"]) for k, e in expected.items()}
        assert run["status"] == (await hub.get(f"/runs/{run['id']}")).json()["status"]
    assert grid["runs"][0]["cells"]["test"]["status"] == "failed"
    assert grid["runs"][0]["cells"]["report"]["status"] == "skipped"
    assert set(grid["runs"][1]["cells"]) == {"build", "test", "report"}

    older = (await hub.get(f"/projects/{pid}/grid", params={"runs": 2, "before": grid["next_before"]})).json()
    assert [r["id"] for r in older["runs"]] == [first["id"]] and older["next_before"] is None


async def test_bad_grid_requests_are_refused(hub: LiveHub, agents: FakeAgents) -> None:
    pid = (await hub.create_project(name="grid"))["id"]
    for params, status, field in (({"runs": "0"}, 422, "runs"), ({"runs": "201"}, 422, "runs"),
                                  ({"runs": "many"}, 422, "runs"), ({"before": "run_nope"}, 422, "before")):
        response = await hub.get(f"/projects/{pid}/grid", params=params)
        assert response.status_code == status, (params, response.text)
        assert response.json()["error"]["details"]["field"] == field
    missing = await hub.get("/projects/prj_nope/grid")
    assert missing.status_code == 404 and "prj_nope" in missing.json()["error"]["message"]
    assert (await hub.get(f"/projects/{pid}/grid")).json() == {
        "project_id": pid, "nodes": [], "runs": [], "next_before": None}


def test_dag_order_puts_upstream_first_and_keeps_creation_order_otherwise() -> None:
    nodes = [{"id": "c", "depends_on": ["a"]}, {"id": "b", "depends_on": []}, {"id": "a", "depends_on": []}]
    assert [n["id"] for n in dag_order(nodes)] == ["a", "c", "b"]
    diamond = [{"id": "d", "depends_on": ["b", "c"]}, {"id": "c", "depends_on": ["a"]},
               {"id": "b", "depends_on": ["a"]}, {"id": "a", "depends_on": []}]
    assert [n["id"] for n in dag_order(diamond)] == ["a", "b", "c", "d"]
    cycle = [{"id": "x", "depends_on": ["y"]}, {"id": "y", "depends_on": ["x"]}]
    assert sorted(n["id"] for n in dag_order(cycle)) == ["x", "y"]
    chain = [{"id": f"n{i}", "depends_on": [f"n{i - 1}"] if i else []} for i in range(3000)][::-1]
    assert [n["id"] for n in dag_order(chain)] == [f"n{i}" for i in range(3000)]
