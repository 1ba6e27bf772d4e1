"""What ran, as the runs view reads it: GET /runs (scope, totals, pages) and a run's executions with
their timings and retries (GET /executions?run_id=)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import LiveHub


def summed(executions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"input_tokens": sum(e["input_tokens"] or 0 for e in executions),
            "output_tokens": sum(e["output_tokens"] or 0 for e in executions),
            "cost_usd": round(sum(e["cost_usd"] or 0 for e in executions), 6), "executions": len(executions)}


async def test_runs_are_listed_newest_first_with_their_scope_and_totals(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="a")
    await hub.create_node(pid, id="b", depends_on=["a"])
    everything = await hub.wait_run(await hub.launch(pid))
    from_b = await hub.wait_run(await hub.launch(pid, ["b"]))
    first_a = next(e for e in everything["executions"] if e["node_id"] == "a")
    response = await hub.post(f"/executions/{first_a['id']}/follow-up", {"prompt": "more"})
    assert response.status_code == 202, response.text
    follow_up = await hub.wait_run(response.json())

    response = await hub.get("/runs", params={"project_id": pid})
    assert response.status_code == 200
    body = response.json()
    assert body["next_before"] is None
    runs = body["runs"]
    assert [r["id"] for r in runs] == [follow_up["id"], from_b["id"], everything["id"]]
    assert [r["scope"] for r in runs] == ["follow_up", "nodes", "all"]
    assert [r["trigger"] for r in runs] == [None, None, None]  # launched by requests
    assert [r["node_ids"] for r in runs] == [["a"], ["b"], None]
    for listed, run in zip(runs, [follow_up, from_b, everything], strict=True):
        assert listed["totals"] == summed(run["executions"]) == run["totals"]
        assert listed["status"] == run["status"] == "succeeded"
        assert listed["scope"] == run["scope"]
        assert listed["started_at"] <= listed["finished_at"]
        assert "executions" not in listed
    assert everything["totals"]["cost_usd"] > 0 and everything["totals"]["executions"] == 2
    project = (await hub.get(f"/projects/{pid}")).json()
    assert project["totals"] == summed([e for r in (everything, from_b, follow_up) for e in r["executions"]])


async def test_runs_come_in_pages_with_before(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    other = (await hub.create_project(name="other"))["id"]
    await hub.create_node(pid, id="a")
    await hub.create_node(other, id="a")
    launched = [(await hub.wait_run(await hub.launch(pid)))["id"] for _ in range(5)]
    await hub.wait_run(await hub.launch(other))
    seen: list[str] = []
    before: str | None = None
    while True:
        params = {"project_id": pid, "limit": 2} | ({"before": before} if before else {})
        page = (await hub.get("/runs", params=params)).json()
        seen += [r["id"] for r in page["runs"]]
        before = page["next_before"]
        if before is None:
            break
        assert before == seen[-1]
    assert seen == launched[::-1]
    every = (await hub.get("/runs", params={"limit": 10})).json()  # no project_id: every project's
    assert len(every["runs"]) == 6 and every["next_before"] is None


@pytest.mark.parametrize(("query", "status", "code", "field"), [
    ({"before": "run_nope"}, 422, "validation_error", "before"),
    ({"limit": "0"}, 422, "validation_error", "limit"),
    ({"limit": "501"}, 422, "validation_error", "limit"),
    ({"limit": "many"}, 422, "validation_error", "limit"),
    ({"project_id": "prj_nope"}, 404, "not_found", None),
])
async def test_bad_runs_queries_are_refused_and_change_nothing(
    hub: LiveHub, query: dict[str, str], status: int, code: str, field: str | None
) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="a")
    run = await hub.wait_run(await hub.launch(pid))
    listed = (await hub.get("/runs", params={"project_id": pid})).json()
    response = await hub.get("/runs", params={"project_id": pid} | query)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if field is not None:
        assert field in error["message"]
    assert (await hub.get("/runs", params={"project_id": pid})).json() == listed
    assert (await hub.get(f"/runs/{run['id']}")).json() == run


async def test_a_runs_executions_carry_their_timings_and_each_retry(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="flaky", prompt="@fail", retries=1)
    await hub.create_node(pid, id="after", depends_on=["flaky"])
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "failed"
    response = await hub.get("/executions", params={"run_id": run["id"]})
    assert response.status_code == 200
    page = response.json()
    assert page["next_before"] is None
    executions = page["executions"][::-1]  # newest first: oldest first here
    assert [(e["node_id"], e["attempt"], e["status"]) for e in executions] == [
        ("flaky", 1, "failed"), ("after", 1, "skipped"), ("flaky", 2, "failed")]
    first, skipped, retry = executions
    assert first["created_at"] <= first["started_at"] <= first["finished_at"] <= retry["created_at"]
    assert retry["created_at"] <= retry["started_at"] <= retry["finished_at"]
    assert skipped["started_at"] is None and skipped["finished_at"] >= retry["finished_at"]
    listed = (await hub.get("/runs", params={"project_id": pid})).json()["runs"][0]
    assert listed["totals"]["executions"] == 3
